//! Who is called for a role in an area, answered from an index built once.
//!
//! A person holding `role` is called for an instance in `area` when their own
//! area is `area`, encloses it, or lies within it (the area graph is the
//! roster's `parent` links — an area may have several parents: its township
//! and a catchment crossing townships — followed at most [`MAX_DEPTH`] steps,
//! so a cycle in a hand-built roster cannot loop). People are returned in
//! roster order.
//!
//! The roster does not change while a runtime runs (the runtime owns its
//! [`PlanSet`] and exposes it read-only), so the index is built once, in
//! [`RosterIndex::new`]: per role, the people at each area, and the set of
//! areas with a holder at or below them. A lookup walks up from `area` (at
//! most [`MAX_DEPTH`] areas) and down only into subtrees that hold the role,
//! so it costs the depth of the tree plus the people found, not the size of
//! the roster.

use crate::workflow::ir::PlanSet;
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::Arc;

/// How many `parent` links an area walk follows at most.
pub const MAX_DEPTH: usize = 64;

/// A person's texts as records carry them (shared, not copied per call).
#[derive(Debug, Clone)]
pub struct PersonText {
    /// The person's id.
    pub id: Arc<str>,
    /// Display name.
    pub name: Arc<str>,
    /// Contact channels.
    pub channels: Vec<Arc<str>>,
}

/// People by role and area, and the area tree, for [`RosterIndex::people_for`].
#[derive(Debug, Default)]
pub struct RosterIndex {
    /// Area name → area id (every area the tree or a person names).
    ids: FxHashMap<String, u32>,
    /// Area id → its parents' ids (the first is the administrative parent).
    parent: Vec<Vec<u32>>,
    /// Area id → the ids of the areas whose parent it is.
    children: Vec<Vec<u32>>,
    /// Role → its people.
    roles: FxHashMap<String, RoleIndex>,
    /// Per person (roster order), the texts records carry.
    people: Vec<PersonText>,
}

/// Where the holders of one role are.
#[derive(Debug, Default)]
struct RoleIndex {
    /// Area id → indices of the people there holding the role (ascending).
    at: FxHashMap<u32, Vec<usize>>,
    /// Areas with a holder of the role at or below them.
    below: FxHashSet<u32>,
}

impl RosterIndex {
    /// Indexes the roster of `set`.
    pub fn new(set: &PlanSet) -> RosterIndex {
        // the graph as the runtime always read it: the last `parent` of a name
        // wins (the loader rejects a name listed twice), plus its further parents
        let mut parents: FxHashMap<&str, Vec<&str>> = FxHashMap::default();
        for a in &set.roster.areas {
            if let Some(p) = a.parent.as_deref() {
                let v: Vec<&str> = std::iter::once(p)
                    .chain(a.also.iter().map(String::as_str))
                    .collect();
                parents.insert(a.name.as_str(), v);
            } else if !a.also.is_empty() {
                parents.insert(a.name.as_str(), a.also.iter().map(String::as_str).collect());
            }
        }
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut id_of = |name: &str| -> u32 {
            if let Some(&id) = ids.get(name) {
                return id;
            }
            let id = ids.len() as u32;
            ids.insert(name.to_string(), id);
            id
        };
        let mut links: Vec<(u32, u32)> = Vec::new();
        let mut linked: FxHashSet<(u32, u32)> = FxHashSet::default();
        for a in &set.roster.areas {
            id_of(&a.name);
        }
        for a in &set.roster.areas {
            let Some(ps) = parents.get(a.name.as_str()) else {
                continue;
            };
            let c = id_of(&a.name);
            for p in ps {
                let p = id_of(p);
                if linked.insert((c, p)) {
                    links.push((c, p));
                }
            }
        }
        for p in &set.roster.people {
            id_of(&p.area);
        }
        let n = ids.len();
        let mut parent: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut children = vec![Vec::new(); n];
        for (c, p) in links {
            if let Some(slot) = parent.get_mut(c as usize) {
                slot.push(p);
            }
            if let Some(kids) = children.get_mut(p as usize) {
                kids.push(c);
            }
        }
        let mut roles: FxHashMap<String, RoleIndex> = FxHashMap::default();
        for (i, p) in set.roster.people.iter().enumerate() {
            let Some(&area) = ids.get(&p.area) else {
                continue;
            };
            for role in &p.roles {
                if !roles.contains_key(role) {
                    roles.insert(role.clone(), RoleIndex::default());
                }
                let Some(r) = roles.get_mut(role) else {
                    continue;
                };
                let here = r.at.entry(area).or_default();
                if here.last() == Some(&i) {
                    continue; // the role listed twice
                }
                here.push(i);
                for a in ancestors(&parent, area) {
                    r.below.insert(a);
                }
            }
        }
        let people = set
            .roster
            .people
            .iter()
            .map(|p| PersonText {
                id: Arc::from(p.id.as_str()),
                name: Arc::from(p.name.as_str()),
                channels: p.channels.iter().map(|c| Arc::from(c.as_str())).collect(),
            })
            .collect();
        RosterIndex {
            ids,
            parent,
            children,
            roles,
            people,
        }
    }

    /// Whether `area` is named by the roster (its area tree or a person's
    /// area); an empty roster knows every area.
    pub fn knows_area(&self, area: &str) -> bool {
        self.ids.is_empty() || self.ids.contains_key(area)
    }

    /// The texts of the person at roster index `i`.
    pub fn person(&self, i: usize) -> Option<&PersonText> {
        self.people.get(i)
    }

    /// Indices (roster order, each once) of the people holding `role` whose
    /// area is `area`, encloses it or lies within it.
    pub fn people_for(&self, role: &str, area: &str) -> Vec<usize> {
        // an area no one names has no people, no parent and no children
        let (Some(r), Some(&start)) = (self.roles.get(role), self.ids.get(area)) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        // `area` itself and the areas enclosing it
        for a in ancestors(&self.parent, start) {
            if let Some(here) = r.at.get(&a) {
                found.extend_from_slice(here);
            }
        }
        // the areas within it, only into subtrees that hold the role
        let mut level = vec![start];
        for _ in 1..MAX_DEPTH {
            let mut next = Vec::new();
            for a in level {
                for &c in self.children.get(a as usize).into_iter().flatten() {
                    if r.below.contains(&c) {
                        if let Some(here) = r.at.get(&c) {
                            found.extend_from_slice(here);
                        }
                        next.push(c);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        if found.len() > 1 {
            found.sort_unstable();
            found.dedup();
        }
        found
    }
}

/// `start` and the areas enclosing it (every parent, level by level, at most
/// [`MAX_DEPTH`] levels; each once), with their distance from `start`.
fn ancestors_at(parent: &[Vec<u32>], start: u32) -> Vec<(u32, usize)> {
    let mut seen: Vec<(u32, usize)> = vec![(start, 0)];
    let mut level = vec![start];
    for d in 1..MAX_DEPTH {
        let mut next = Vec::new();
        for a in level {
            for &p in parent.get(a as usize).into_iter().flatten() {
                if !seen.iter().any(|(x, _)| *x == p) {
                    seen.push((p, d));
                    next.push(p);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        level = next;
    }
    seen
}

fn ancestors(parent: &[Vec<u32>], start: u32) -> impl Iterator<Item = u32> {
    ancestors_at(parent, start).into_iter().map(|(a, _)| a)
}

impl RosterIndex {
    /// How near the nearest holder of `role` is to `area`: the fewest links
    /// from `area` up to an enclosing area where someone holds it (0: in
    /// `area` itself), else, for holders only within it, [`MAX_DEPTH`] plus
    /// the links down; `None` when nobody holds it there.
    pub fn distance(&self, role: &str, area: &str) -> Option<usize> {
        let (Some(r), Some(&start)) = (self.roles.get(role), self.ids.get(area)) else {
            return None;
        };
        if let Some(d) = ancestors_at(&self.parent, start)
            .into_iter()
            .filter(|(a, _)| r.at.contains_key(a))
            .map(|(_, d)| d)
            .min()
        {
            return Some(d);
        }
        let mut level = vec![start];
        for d in 1..MAX_DEPTH {
            let mut next = Vec::new();
            for a in level {
                for &c in self.children.get(a as usize).into_iter().flatten() {
                    if r.at.contains_key(&c) {
                        return Some(MAX_DEPTH + d);
                    }
                    if r.below.contains(&c) {
                        next.push(c);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        None
    }

    /// The areas enclosing `area` (its parents, theirs, …), nearest first.
    pub fn enclosing(&self, area: &str) -> Vec<String> {
        let Some(&start) = self.ids.get(area) else {
            return Vec::new();
        };
        let names: FxHashMap<u32, &str> = self.ids.iter().map(|(n, i)| (*i, n.as_str())).collect();
        ancestors_at(&self.parent, start)
            .into_iter()
            .skip(1)
            .filter_map(|(a, _)| names.get(&a).map(|n| n.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::ir::{AreaDef, Person, Roster};

    fn area(name: &str, parent: Option<&str>) -> AreaDef {
        AreaDef {
            name: name.into(),
            parent: parent.map(Into::into),
            also: Vec::new(),
        }
    }

    fn person(id: &str, roles: &[&str], area: &str) -> Person {
        Person {
            id: id.into(),
            name: id.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            area: area.into(),
            channels: vec!["电话".into()],
        }
    }

    /// The definition the index replaces: scan the roster, walk the tree.
    fn scan(set: &PlanSet, role: &str, area: &str) -> Vec<usize> {
        let parents: FxHashMap<&str, &str> = set
            .roster
            .areas
            .iter()
            .filter_map(|a| Some((a.name.as_str(), a.parent.as_deref()?)))
            .collect();
        let within = |inner: &str, outer: &str| {
            let mut cur = inner;
            for _ in 0..MAX_DEPTH {
                if cur == outer {
                    return true;
                }
                match parents.get(cur) {
                    Some(p) => cur = p,
                    None => return false,
                }
            }
            false
        };
        set.roster
            .people
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                p.roles.iter().any(|r| r == role)
                    && (within(area, &p.area) || within(&p.area, area))
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn roster(areas: Vec<AreaDef>, people: Vec<Person>) -> PlanSet {
        PlanSet {
            roster: Roster {
                areas,
                people,
                stations: Vec::new(),
            },
            ..PlanSet::default()
        }
    }

    #[test]
    fn workflow_roster_index_agrees_with_a_scan_of_the_roster() {
        let set = roster(
            vec![
                area("县", None),
                area("青龙镇", Some("县")),
                area("白马镇", Some("县")),
                area("青龙村", Some("青龙镇")),
                area("石桥村", Some("青龙镇")),
                area("白马村", Some("白马镇")),
                area("孤岛", Some("未列出的乡")),
            ],
            vec![
                person("p0", &["县防汛负责人"], "县"),
                person("p1", &["乡镇主要负责人", "网格员"], "青龙镇"),
                person("p2", &["乡镇主要负责人"], "白马镇"),
                person("p3", &["村防汛责任人", "村防汛责任人"], "青龙村"),
                person("p4", &["村防汛责任人"], "石桥村"),
                person("p5", &["村防汛责任人"], "白马村"),
                person("p6", &["网格员"], "青龙村"),
                person("p7", &["网格员"], "未列出的乡"),
                person("p8", &["网格员"], "孤岛"),
                person("p9", &["县防汛负责人"], "县"),
            ],
        );
        let idx = RosterIndex::new(&set);
        let roles = [
            "县防汛负责人",
            "乡镇主要负责人",
            "村防汛责任人",
            "网格员",
            "无此角色",
        ];
        let areas = [
            "县",
            "青龙镇",
            "白马镇",
            "青龙村",
            "石桥村",
            "白马村",
            "孤岛",
            "未列出的乡",
            "别处",
        ];
        for role in roles {
            for a in areas {
                assert_eq!(idx.people_for(role, a), scan(&set, role, a), "{role} @ {a}");
            }
        }
        assert_eq!(idx.people_for("村防汛责任人", "青龙镇"), vec![3, 4]);
        assert_eq!(idx.people_for("县防汛负责人", "石桥村"), vec![0, 9]);
        assert_eq!(idx.people_for("网格员", "青龙村"), vec![1, 6]);
    }

    #[test]
    fn workflow_roster_index_survives_a_cycle_in_the_area_tree() {
        let set = roster(
            vec![
                area("甲", Some("乙")),
                area("乙", Some("丙")),
                area("丙", Some("甲")),
            ],
            vec![
                person("a", &["值班"], "甲"),
                person("b", &["值班"], "乙"),
                person("c", &["值班"], "丙"),
            ],
        );
        let idx = RosterIndex::new(&set);
        for a in ["甲", "乙", "丙", "丁"] {
            assert_eq!(idx.people_for("值班", a), scan(&set, "值班", a), "{a}");
        }
    }

    #[test]
    fn workflow_roster_index_on_a_deep_chain_matches_the_depth_limit() {
        // a chain deeper than MAX_DEPTH: only areas within the limit are related
        let n = MAX_DEPTH + 10;
        let areas: Vec<AreaDef> = (0..n)
            .map(|i| {
                let name = format!("a{i}");
                let parent = (i > 0).then(|| format!("a{}", i - 1));
                AreaDef {
                    name,
                    parent,
                    also: Vec::new(),
                }
            })
            .collect();
        let people = (0..n)
            .map(|i| person(&format!("p{i}"), &["值班"], &format!("a{i}")))
            .collect();
        let set = roster(areas, people);
        let idx = RosterIndex::new(&set);
        for i in [0, 1, 5, MAX_DEPTH - 1, MAX_DEPTH, n - 1] {
            let a = format!("a{i}");
            assert_eq!(idx.people_for("值班", &a), scan(&set, "值班", &a), "{a}");
        }
    }
}
