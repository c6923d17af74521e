//! The CAP rules the XML schema does not check, checked on a document:
//! offsets, references, identifiers, polygons, restriction and addresses.

/// The texts of every `<tag>…</tag>` in `xml`, in order (escapes left as
/// written; enough for CAP's text-only elements).
pub fn texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

fn is_time(t: &str) -> bool {
    let b = t.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    b.len() == 25
        && (0..4).all(d)
        && b[4] == b'-'
        && d(5)
        && d(6)
        && b[7] == b'-'
        && d(8)
        && d(9)
        && b[10] == b'T'
        && d(11)
        && d(12)
        && b[13] == b':'
        && d(14)
        && d(15)
        && b[16] == b':'
        && d(17)
        && d(18)
        && (b[19] == b'+' || b[19] == b'-')
        && d(20)
        && d(21)
        && b[22] == b':'
        && d(23)
        && d(24)
}

/// Every problem of an alert the schema lets through; empty when none.
///
/// - `sent`, `effective`, `onset`, `expires` carry the offset `+08:00`
///   (Beijing time; `Z` or `-00:00` is not allowed);
/// - an `Update` or `Cancel` has `references`: space-separated
///   `sender,identifier,sent` triples, each `sent` a time with an offset;
/// - the identifier has the GB/T 35965.1 form
///   `ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N` and its time is the `sent` time;
/// - every polygon has at least 4 points and ends on its first;
/// - scope `Restricted` has `restriction`, `Private` has `addresses`;
/// - the sender has no spaces, commas or `<`/`&`.
pub fn check(xml: &str) -> Vec<String> {
    let mut p = Vec::new();
    let one = |tag: &str| texts(xml, tag).first().copied().unwrap_or("");
    for tag in ["sent", "effective", "onset", "expires"] {
        for t in texts(xml, tag) {
            if !is_time(t) {
                p.push(format!("<{tag}> `{t}` is not a time with an offset"));
            } else if !t.ends_with("+08:00") {
                p.push(format!("<{tag}> `{t}` is not in Beijing time (+08:00)"));
            }
        }
    }
    let sender = one("sender");
    if sender.is_empty() || sender.contains([' ', ',', '<', '&']) {
        p.push(format!(
            "<sender> `{sender}` is empty or has a space, comma, < or &"
        ));
    }
    let msg = one("msgType");
    let refs = texts(xml, "references");
    if (msg == "Update" || msg == "Cancel") && refs.is_empty() {
        p.push(format!("a {msg} without <references>"));
    }
    for r in refs {
        if r.trim().is_empty() {
            p.push("empty <references>".into());
        }
        for triple in r.split(' ') {
            let parts: Vec<&str> = triple.split(',').collect();
            if parts.len() != 3 || parts.iter().any(|x| x.is_empty()) {
                p.push(format!(
                    "reference `{triple}` is not sender,identifier,sent"
                ));
            } else if !is_time(parts[2]) {
                p.push(format!(
                    "reference `{triple}`: `{}` is not a time with an offset",
                    parts[2]
                ));
            }
        }
    }
    let id = one("identifier");
    let sent = one("sent");
    let parts: Vec<&str> = id.split('_').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if parts.len() != 3
        || !digits(parts[0], 14)
        || !digits(parts[1], 14)
        || parts[2].is_empty()
        || !parts[2].bytes().all(|b| b.is_ascii_digit())
    {
        p.push(format!(
            "identifier `{id}` is not ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N"
        ));
    } else if is_time(sent) {
        let local: String = sent[..19].chars().filter(char::is_ascii_digit).collect();
        if parts[1] != local {
            p.push(format!(
                "identifier `{id}`: its time is not the sent time {sent}"
            ));
        }
    }
    for poly in texts(xml, "polygon") {
        let pts: Vec<&str> = poly.split_whitespace().collect();
        if pts.len() < 4 {
            p.push(format!("polygon `{poly}` has fewer than 4 points"));
        } else if pts.first() != pts.last() {
            p.push(format!("polygon `{poly}` does not end on its first point"));
        }
        for pt in &pts {
            let ok = pt.split_once(',').is_some_and(|(a, b)| {
                let lat = a.parse::<f64>();
                let lon = b.parse::<f64>();
                matches!((lat, lon), (Ok(lat), Ok(lon)) if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon))
            });
            if !ok {
                p.push(format!("polygon point `{pt}` is not lat,lon"));
            }
        }
    }
    match one("scope") {
        "Restricted" if texts(xml, "restriction").is_empty() => {
            p.push("scope Restricted without <restriction>".into());
        }
        "Private" if texts(xml, "addresses").is_empty() => {
            p.push("scope Private without <addresses>".into());
        }
        _ => {}
    }
    p
}
