//! `yingji-serve`: the service alone (the same as `yingji serve`).
fn main() {
    let code = yingji_serve::main_with_args(std::env::args().skip(1).collect());
    std::process::exit(code);
}
