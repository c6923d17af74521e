//! `yingji-serve`: the service alone (the same as `yingji serve`); `yingji-serve worker …` is `yingji worker …`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = if args.first().map(String::as_str) == Some("worker") {
        yingji_serve::worker::main_with_args(args.into_iter().skip(1).collect())
    } else {
        yingji_serve::main_with_args(args)
    };
    std::process::exit(code);
}
