//! The seeded province of `yingji_bench::province` (Chongqing's 38 counties,
//! storms, readings out of order, resent frames, a closing tail), as files or
//! published to a `yingji worker` group.
//!
//! ```text
//! cargo run --release --example province -- jsonl DIR [--seed S] [--events N] [--counties C]
//! cargo run --release --example province -- publish --nats URL --group G [--seed S] [--events N] [--counties C]
//! cargo run --release --example province -- outputs --nats URL --group G
//! ```
//!
//! `jsonl` writes `DIR/all.jsonl` (every message in publish order) and one
//! `DIR/<county>.jsonl` per county (that county's lines in the same order:
//! the input of the county's golden `yingji run`). `publish` sends each line
//! to `yingji.G.in.<county>` (the worker group's input subjects; the group's
//! input stream must exist: start a worker first) and waits for every
//! JetStream acknowledgement, in batches; it prints the count and the rate.
//! `outputs` prints the group's output stream, one `<Nats-Msg-Id> <payload>`
//! line per message in stream order (`<county>:<id>`, the output line).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Instant;
use yingji_bench::province::{self, Params};

const USAGE: &str = "usage: province jsonl DIR | publish --nats URL --group G | outputs --nats URL --group G  [--seed S] [--events N] [--counties C]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().ok_or(USAGE)?;
    let mut params = Params::default();
    let mut dir = None;
    let mut nats = None;
    let mut group = None;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--seed" => params.seed = value()?.parse()?,
            "--events" => params.events = value()?.parse()?,
            "--counties" => params.counties = value()?.parse()?,
            "--nats" => nats = Some(value()?),
            "--group" => group = Some(value()?),
            _ if mode == "jsonl" && dir.is_none() && !a.starts_with("--") => dir = Some(a),
            _ => return Err(format!("unknown argument `{a}`\n{USAGE}").into()),
        }
    }
    if mode == "outputs" {
        let nats = nats.ok_or("outputs needs --nats URL")?;
        let group = group.ok_or("outputs needs --group G")?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return rt.block_on(outputs(&nats, &group));
    }
    let prov = province::generate(&params)?;
    eprintln!(
        "province: {} messages, {} counties, storms end {}, tail ends {}; {:?}",
        prov.messages.len(),
        params.counties,
        prov.storm_end,
        prov.end,
        prov.counts
    );
    match mode.as_str() {
        "jsonl" => {
            let dir = std::path::PathBuf::from(dir.ok_or(USAGE)?);
            std::fs::create_dir_all(&dir)?;
            let mut all = std::io::BufWriter::new(std::fs::File::create(dir.join("all.jsonl"))?);
            let mut per: BTreeMap<&str, std::io::BufWriter<std::fs::File>> = BTreeMap::new();
            for m in &prov.messages {
                writeln!(all, "{}", m.line)?;
                let w = match per.entry(m.county) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let f = std::fs::File::create(dir.join(format!("{}.jsonl", m.county)))?;
                        e.insert(std::io::BufWriter::new(f))
                    }
                };
                writeln!(w, "{}", m.line)?;
            }
            all.flush()?;
            for w in per.values_mut() {
                w.flush()?;
            }
            eprintln!("province: wrote {}", dir.display());
            Ok(())
        }
        "publish" => {
            let nats = nats.ok_or("publish needs --nats URL")?;
            let group = group.ok_or("publish needs --group G")?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(publish(&nats, &group, &prov.messages))
        }
        _ => Err(USAGE.into()),
    }
}

async fn publish(
    nats: &str,
    group: &str,
    messages: &[province::Message],
) -> Result<(), Box<dyn std::error::Error>> {
    let urls: Vec<&str> = nats.split(',').collect();
    let client = async_nats::connect(urls).await?;
    let js = async_nats::jetstream::new(client);
    let t0 = Instant::now();
    // acks are awaited as they come, at most 512 in flight
    for chunk in messages.chunks(512) {
        let mut acks = Vec::with_capacity(chunk.len());
        for m in chunk {
            let subject = format!("yingji.{group}.in.{}", m.county);
            acks.push(js.publish(subject, m.line.clone().into()).await?);
        }
        for ack in acks {
            ack.await?;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "province: published {} messages in {secs:.2} s ({:.0}/s)",
        messages.len(),
        messages.len() as f64 / secs
    );
    Ok(())
}

async fn outputs(nats: &str, group: &str) -> Result<(), Box<dyn std::error::Error>> {
    use futures::StreamExt;
    let urls: Vec<&str> = nats.split(',').collect();
    let client = async_nats::connect(urls).await?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(format!("YINGJI_{group}_OUT")).await?;
    let n = stream.cached_info().state.messages;
    if n == 0 {
        return Ok(());
    }
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await?;
    let mut messages = consumer.messages().await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut read = 0;
    while read < n {
        let Some(m) = messages.next().await else {
            break;
        };
        let m = m?;
        let id = m
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Msg-Id"))
            .map(|v| v.to_string())
            .unwrap_or_default();
        writeln!(out, "{id} {}", String::from_utf8_lossy(&m.payload))?;
        read += 1;
    }
    out.flush()?;
    Ok(())
}
