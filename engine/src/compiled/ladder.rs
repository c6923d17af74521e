//! Threshold ladders: `level red when x >= 100`, `level orange when x >= 50`, …
//! evaluated with one evaluation of `x` and one binary search.
//!
//! A signal's level rules form a ladder when every rule compares the same
//! subject with the same operator against a numeric constant, and the
//! constants are ordered so that "rule `i` holds" is monotone in `i`
//! (non-increasing thresholds for `>=`/`>`, non-decreasing for `<=`/`<`).
//! The first rule that holds is then found by counting the rules that fail
//! (short ladders) or by [`slice::partition_point`].

use super::expr::{CExpr, Cell, Cmp};

/// A ladder of threshold rules over one subject.
#[derive(Clone, Debug, PartialEq)]
pub struct Ladder {
    /// The compared expression.
    pub subject: CExpr,
    /// The comparison every rule makes.
    pub op: Cmp,
    /// Thresholds in rule order.
    pub thresholds: Vec<f64>,
}

impl Ladder {
    /// Recognises a ladder in compiled level conditions (highest level first).
    pub fn detect(rules: &[CExpr]) -> Option<Ladder> {
        let mut subject = None;
        let mut op = None;
        let mut thresholds = Vec::with_capacity(rules.len());
        for r in rules {
            let CExpr::CmpNum(o, s, c) = r else {
                return None;
            };
            if c.is_nan() || *op.get_or_insert(*o) != *o || *subject.get_or_insert(s) != s {
                return None;
            }
            thresholds.push(*c);
        }
        let (subject, op) = (subject?, op?);
        let monotone = thresholds.windows(2).all(|w| match (w, op) {
            ([a, b], Cmp::Ge | Cmp::Gt) => a >= b,
            ([a, b], Cmp::Le | Cmp::Lt) => a <= b,
            _ => true,
        });
        monotone.then(|| Ladder {
            subject: (**subject).clone(),
            op,
            thresholds,
        })
    }

    /// The index of the first rule that holds for a subject value `x`.
    #[inline]
    pub fn first_holding(&self, x: Cell) -> Option<usize> {
        let Cell::Num(x) = x else {
            // a comparison of anything but a number with a number is false
            return None;
        };
        // rules that fail come first; NaN fails every rule
        let op = self.op;
        let i = if self.thresholds.len() <= 8 {
            // short ladders: counting the failures without branches beats a search
            self.thresholds.iter().filter(|&&t| !op.holds(x, t)).count()
        } else {
            self.thresholds.partition_point(|&t| !op.holds(x, t))
        };
        (i < self.thresholds.len()).then_some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ge(t: f64) -> CExpr {
        CExpr::CmpNum(Cmp::Ge, Box::new(CExpr::Field(0)), t)
    }

    #[test]
    fn finds_the_highest_level_that_holds() {
        let l = Ladder::detect(&[ge(100.0), ge(50.0), ge(25.0)]);
        let Some(l) = l else {
            return assert!(l.is_some(), "ladder not detected");
        };
        assert_eq!(l.first_holding(Cell::Num(120.0)), Some(0));
        assert_eq!(l.first_holding(Cell::Num(100.0)), Some(0));
        assert_eq!(l.first_holding(Cell::Num(99.9)), Some(1));
        assert_eq!(l.first_holding(Cell::Num(25.0)), Some(2));
        assert_eq!(l.first_holding(Cell::Num(24.9)), None);
        assert_eq!(l.first_holding(Cell::Num(f64::NAN)), None);
        assert_eq!(l.first_holding(Cell::Null), None);
    }

    #[test]
    fn rejects_non_monotone_or_mixed_rules() {
        assert_eq!(Ladder::detect(&[ge(50.0), ge(100.0)]), None);
        let other = CExpr::CmpNum(Cmp::Ge, Box::new(CExpr::Field(1)), 10.0);
        assert_eq!(Ladder::detect(&[ge(50.0), other]), None);
        let gt = CExpr::CmpNum(Cmp::Gt, Box::new(CExpr::Field(0)), 10.0);
        assert_eq!(Ladder::detect(&[ge(50.0), gt]), None);
        assert_eq!(Ladder::detect(&[]), None);
    }
}
