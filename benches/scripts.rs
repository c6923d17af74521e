//! The cost of one script function call (rhai) next to a native built-in,
//! both through the reference evaluator, and the bare rhai call.
#![allow(missing_docs, reason = "criterion macros")]

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use yingji::unstable::engine::eval::{Calls, Scope, eval, eval_with};
use yingji::unstable::engine::ir::{BinOp, Builtin, Expr};
use yingji::unstable::engine::script::{CallSite, ScriptRt};
use yingji::{Timestamp, Value};

const POLICY: &str = "event displacement { site: string, mm: number }\n\
    fn tangent_angle(v: number, v0: number) -> number in rhai {\n  atan(v / v0) * 180.0 / PI()\n}\n\
    signal s { from displacement key site let a = tangent_angle(mm, 1.2) level red when a >= 85 }\n";

/// Runs script calls through a [`ScriptRt`], as the engine does.
struct Host<'a> {
    rt: &'a mut ScriptRt,
    site: CallSite<'a>,
    stack: Vec<Value>,
}

impl Calls for Host<'_> {
    fn stack(&mut self) -> &mut Vec<Value> {
        &mut self.stack
    }
    fn call(&mut self, f: u16, base: usize) -> Value {
        let args: [Value; 2] = [
            self.stack.get(base).cloned().unwrap_or_default(),
            self.stack.get(base + 1).cloned().unwrap_or_default(),
        ];
        self.stack.truncate(base);
        self.rt.call_with(f, &args, &self.site)
    }
}

fn bench(c: &mut Criterion) {
    let Ok(defs) = yingji::Definitions::from_str("bench.yj", POLICY) else {
        return;
    };
    let Ok(mut rt) = ScriptRt::new(&defs.unstable_program().scripts) else {
        return;
    };
    let (signal, key): (Arc<str>, Arc<str>) = (Arc::from("s"), Arc::from("k"));
    let fields = [Value::Null, Value::Num(3.0)];
    let scope = Scope {
        fields: &fields,
        lets: &[],
        windows: None,
        row: &[],
    };
    let script = Expr::Script(0, vec![Expr::Field(1), Expr::Const(Value::Num(1.2))]);
    // the native equivalent as built-ins can express it: a call plus arithmetic
    let native = Expr::Binary(
        BinOp::Mul,
        Box::new(Expr::Call(
            Builtin::Abs,
            vec![Expr::Binary(
                BinOp::Div,
                Box::new(Expr::Field(1)),
                Box::new(Expr::Const(Value::Num(1.2))),
            )],
        )),
        Box::new(Expr::Const(Value::Num(57.29))),
    );
    let mut g = c.benchmark_group("script_call");
    g.bench_function("native_builtin_eval", |b| {
        b.iter(|| eval(black_box(&native), &scope))
    });
    g.bench_function("rhai_call_direct", |b| {
        let site = CallSite {
            signal: &signal,
            key: &key,
            event: 1,
            ts: Timestamp::default(),
        };
        let args = [Value::Num(3.0), Value::Num(1.2)];
        b.iter(|| rt.call_with(0, black_box(&args), &site))
    });
    g.bench_function("rhai_call_eval", |b| {
        let mut host = Host {
            rt: &mut rt,
            site: CallSite {
                signal: &signal,
                key: &key,
                event: 1,
                ts: Timestamp::default(),
            },
            stack: Vec::new(),
        };
        b.iter(|| eval_with(black_box(&script), &scope, &mut host))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
