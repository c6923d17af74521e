//! Who is called for a role in an area, answered from an index built once.
//!
//! A person holding `role` is called for an instance in `area` when their own
//! area is `area`, encloses it, or lies within it (the area tree is the
//! roster's `parent` links, followed at most [`MAX_DEPTH`] steps, so a cycle in
//! a hand-built roster cannot loop). People are returned in roster order.
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
    /// Area id → its parent's id.
    parent: Vec<Option<u32>>,
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
        // the tree as the runtime always read it: the last `parent` of a name wins
        let parents: FxHashMap<&str, &str> = set
            .roster
            .areas
            .iter()
            .filter_map(|a| Some((a.name.as_str(), a.parent.as_deref()?)))
            .collect();
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
        for a in &set.roster.areas {
            id_of(&a.name);
        }
        for (child, parent) in &parents {
            links.push((id_of(child), id_of(parent)));
        }
        for p in &set.roster.people {
            id_of(&p.area);
        }
        let n = ids.len();
        let mut parent = vec![None; n];
        let mut children = vec![Vec::new(); n];
        for (c, p) in links {
            if let Some(slot) = parent.get_mut(c as usize) {
                *slot = Some(p);
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
                let mut cur = Some(area);
                for _ in 0..MAX_DEPTH {
                    let Some(a) = cur else { break };
                    r.below.insert(a);
                    cur = parent.get(a as usize).copied().flatten();
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
        let mut cur = Some(start);
        for _ in 0..MAX_DEPTH {
            let Some(a) = cur else { break };
            if let Some(here) = r.at.get(&a) {
                found.extend_from_slice(here);
            }
            cur = self.parent.get(a as usize).copied().flatten();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::ir::{AreaDef, Person, Roster};

    fn area(name: &str, parent: Option<&str>) -> AreaDef {
        AreaDef {
            name: name.into(),
            parent: parent.map(Into::into),
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
                AreaDef { name, parent }
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
