#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "probe"
)]
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let kind = a[1].clone();
    let n: usize = a[2].parse().unwrap();
    let stage = a.get(3).cloned().unwrap_or_default();
    let e = match kind.as_str() {
        "sum" => vec!["mm"; n].join(" + "),
        "and" => vec!["mm > 1"; n].join(" and "),
        "paren" => format!("{}mm{}", "(".repeat(n), ")".repeat(n)),
        "not" => format!("{}mm > 1", "not ".repeat(n)),
        "neg" => format!("{}mm", "-".repeat(n)),
        "call" => format!("{}mm{}", "abs(".repeat(n), ")".repeat(n)),
        "deepsum" => format!(
            "{}{}{}",
            "(".repeat(62),
            vec!["mm"; 256].join(" + "),
            ")".repeat(62)
        ),
        "sumdeep" => format!(
            "{} + {}mm{}",
            vec!["mm"; 255].join(" + "),
            "(".repeat(62),
            ")".repeat(62)
        ),
        "negs" => format!("{}mm{}", "-(".repeat(n), ")".repeat(n)),
        "andnot" => format!("{}mm > 1", vec!["not mm > 1"; n].join(" and ")),
        "list" => format!("mm in [{}]", vec!["1"; n].join(", ")),
        _ => unreachable!(),
    };
    let text = format!(
        "event rain {{ station: string, mm: number }}\nsignal s {{ from rain key station let x = {e}\n level red when mm > 1 }}\n"
    );
    let h = std::thread::Builder::new()
        .stack_size(std::env::var("KB").map_or(512, |v| v.parse().unwrap()) * 1024)
        .spawn(move || {
            let mut sm = yingji_dsl::SourceMap::default();
            let f = sm.add("a.yj", &text);
            let (defs, d) = yingji_dsl::parse::parse_file(f, &text);
            eprintln!("parsed {} {}", defs.len(), d.len());
            if stage == "parse" {
                std::mem::forget(defs);
                return;
            }
            let l = yingji_dsl::lower::lower(&defs, &sm);
            eprintln!("lowered {}", l.diagnostics.len());
            if stage == "lower" {
                std::mem::forget(defs);
                std::mem::forget(l);
                return;
            }
            let s = serde_json::to_string(&l.program).unwrap();
            eprintln!("ser {}", s.len());
            drop(l);
            drop(defs);
            eprintln!("dropped");
        })
        .unwrap();
    h.join().unwrap();
}
