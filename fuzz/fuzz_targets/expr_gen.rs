//! Structure-aware expressions: a generated expression (deep nesting, long
//! operator chains, windows, calls, `in` lists, beyond the limits too) as a
//! level rule. Loading never panics and never overflows the stack; a clean
//! load runs a few events with the compiled and the reference evaluator
//! giving the same outputs, whole and split.
#![no_main]
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

impl Op {
    fn text(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::And => "and",
            Op::Or => "or",
        }
    }
}

#[derive(Arbitrary, Debug)]
enum E {
    Num(i16),
    Frac(u16),
    Mm,
    Level,
    Station,
    Str(u8),
    True,
    Window(u8, u8),
    Let(u8),
    Not(Box<E>),
    Neg(Box<E>),
    Paren(Box<E>),
    Bin(Box<E>, Op, Box<E>),
    /// `e op e op e ...`: a long chain.
    Chain(Op, Box<E>, u16),
    /// `n` nested parentheses (past the nesting limit too).
    Deep(u8, Box<E>),
    In(Box<E>, Vec<i8>),
    Call(u8, Vec<E>),
}

fn render(e: &E, out: &mut String, budget: &mut usize) {
    if *budget == 0 {
        out.push('1');
        return;
    }
    *budget -= 1;
    match e {
        E::Num(n) => out.push_str(&n.to_string()),
        E::Frac(n) => out.push_str(&format!("{}.{:03}", n / 1000, n % 1000)),
        E::Mm => out.push_str("mm"),
        E::Level => out.push_str("level_m"),
        E::Station => out.push_str("station"),
        E::Str(n) => out.push_str(&format!("\"S{}\"", n % 4)),
        E::True => out.push_str("true"),
        E::Window(agg, d) => {
            let agg = ["sum", "avg", "min", "max", "count"][usize::from(*agg) % 5];
            let d = ["1s", "10m", "3h", "1d", "366d", "367d"][usize::from(*d) % 6];
            out.push_str(&format!("{agg}(mm, {d})"));
        }
        E::Let(i) => out.push_str(["a", "b", "c"][usize::from(*i) % 3]),
        E::Not(x) => {
            out.push_str("not ");
            render(x, out, budget);
        }
        E::Neg(x) => {
            out.push('-');
            render(x, out, budget);
        }
        E::Paren(x) => {
            out.push('(');
            render(x, out, budget);
            out.push(')');
        }
        E::Bin(a, op, b) => {
            render(a, out, budget);
            out.push(' ');
            out.push_str(op.text());
            out.push(' ');
            render(b, out, budget);
        }
        E::Chain(op, x, n) => {
            let n = usize::from(*n % 300);
            let mut one = String::new();
            render(x, &mut one, budget);
            for i in 0..=n {
                if i > 0 {
                    out.push(' ');
                    out.push_str(op.text());
                    out.push(' ');
                }
                out.push_str(&one);
            }
        }
        E::Deep(n, x) => {
            let n = usize::from(*n % 100);
            out.push_str(&"(".repeat(n));
            render(x, out, budget);
            out.push_str(&")".repeat(n));
        }
        E::In(x, items) => {
            render(x, out, budget);
            out.push_str(" in [");
            let items: Vec<String> = items.iter().take(40).map(i8::to_string).collect();
            out.push_str(&items.join(", "));
            out.push(']');
        }
        E::Call(f, args) => {
            out.push_str(["abs", "min", "max"][usize::from(*f) % 3]);
            out.push('(');
            for (i, a) in args.iter().take(4).enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render(a, out, budget);
            }
            out.push(')');
        }
    }
}

const EVENTS: &[&str] = &[
    r#"{"ts":"2024-07-29T03:00:00+08:00","kind":"rain","station":"S1","mm":60,"level_m":1.5}"#,
    r#"{"ts":"2024-07-29T03:05:00+08:00","kind":"rain","station":"S2","mm":0.1,"level_m":-2}"#,
    r#"{"ts":"2024-07-29T03:10:00+08:00","kind":"rain","station":"S1","mm":40,"level_m":0}"#,
    r#"{"ts":"2024-07-29T03:20:00+08:00","kind":"rain","station":"S1","mm":0,"level_m":3}"#,
    r#"{"ts":"2024-07-29T05:00:00+08:00","kind":"rain","station":"S3","mm":7,"level_m":1e6}"#,
];

fuzz_target!(|input: (E, E, E)| {
    let (a, b, rule) = input;
    let mut budget = 2000;
    let (mut ta, mut tb, mut tr) = (String::new(), String::new(), String::new());
    render(&a, &mut ta, &mut budget);
    render(&b, &mut tb, &mut budget);
    render(&rule, &mut tr, &mut budget);
    let text = format!(
        "event rain {{ station: string, mm: number, level_m: number }}\n\
         signal s {{\n  from rain\n  key station\n  let a = {ta}\n  let b = {tb}\n  let c = sum(mm, 3h)\n\
         \x20 level red when {tr}\n  level blue when a\n}}\n"
    );
    if let Some(defs) = yingji_fuzz::load_checked(vec![("gen.yj".into(), text)]) {
        yingji_fuzz::check_stream(&defs, EVENTS, 2);
    }
});
