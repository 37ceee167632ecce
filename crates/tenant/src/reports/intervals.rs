//! Interval disclosure (C7): a hidden count must stay uncertain, not only underivable.
//!
//! The suppression of [`crate::reports::disclosure`] leaves no hidden value that follows
//! exactly from the shown ones (linear algebra). Counts are never negative, though, and
//! that alone can pin a hidden value into a narrow range: two hidden cells of a line whose
//! shown total leaves 3 for them are each between 0 and 3, so whoever reads the tables
//! knows that fewer than 5 people are behind either. The audit here asks, for every hidden
//! count from 1 to `k − 1` (a primary suppression), how low and how high it can go given
//! every shown value of every table and non-negativity: a linear programme
//! ([`crate::reports::simplex`]). The value is protected when it could be 0 (no one could
//! be behind it) and could be `k` or more (it need not be a small group).
//!
//! The unknowns are the populations' own counts (one per record key and class), not the
//! tables' cells: the reader is assumed to know which combinations of labels occur (which
//! courses a cohort takes at all), more than the tables show, so a pattern safe against
//! that reader is safe against one who knows less.
//!
//! Populations can be linked ([`Joint::links`]): every record of one is a record of
//! another over the same period with the same labels (a certificate issued in a period
//! comes with a completion recorded in it). A reader who knows it knows that, for every
//! record key, the one's count is at most the other's; the audit knows it too (a link is
//! used for a key only where it holds: a link the records break there tells the reader
//! nothing true).
//!
//! [`next_to_hide`] names one more value to hide (on the failing value's own lines first, a
//! cell before a total, the smallest count above 0 first), which
//! [`crate::reports::disclosure`] hides and protects like a small one, in every table that
//! shows it, until every primary value is protected.

use crate::reports::disclosure::{Population, PublishedTable};
use crate::reports::simplex::{Bound, Polytope};
use std::collections::BTreeMap;

/// Populations of one period audited together.
#[derive(Debug, Clone)]
pub(crate) struct Joint<'a> {
    pub populations: Vec<&'a Population>,
    /// `(within, of)`: every record of population `within` is a record of `of`.
    pub links: Vec<(usize, usize)>,
}

impl<'a> Joint<'a> {
    #[cfg(test)]
    pub(crate) fn one(population: &'a Population) -> Self {
        Self {
            populations: vec![population],
            links: Vec::new(),
        }
    }

    /// Where each population's counts start among all of them.
    fn offsets(&self) -> Vec<usize> {
        let mut at = 0;
        self.populations
            .iter()
            .map(|p| {
                let start = at;
                at += p.counts.len() * p.classes.len();
                start
            })
            .collect()
    }

    /// Every population's counts, one per record key and class, in the order
    /// [`Value::form`] indexes them.
    pub(crate) fn counts(&self) -> Vec<u64> {
        self.populations
            .iter()
            .flat_map(|p| p.counts.values().flatten().copied())
            .collect()
    }
}

/// Where a value sits: its population, its table, its place in the table.
pub(crate) type At = (usize, usize, Place);

/// Where a value sits in a published table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Place {
    Cell(usize, usize),
    RowTotal(usize),
    ColumnTotal(usize),
    Total,
}

/// One value of a published table as a sum of the populations' counts.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    pub at: At,
    /// Indexes of the counts it adds up ([`Joint::counts`]).
    pub form: Vec<usize>,
    pub shown: Option<u64>,
    pub truth: u64,
}

/// Every value of every table of every population (`published[population][table]`), as a
/// sum of the populations' counts.
pub(crate) fn values(joint: &Joint<'_>, published: &[Vec<PublishedTable>]) -> Vec<Value> {
    let truth = joint.counts();
    let offsets = joint.offsets();
    let mut out = Vec::new();
    for (p, (population, tables)) in joint.populations.iter().zip(published).enumerate() {
        let classes = population.classes.len();
        let keys: Vec<&Vec<String>> = population.counts.keys().collect();
        for (t, table) in tables.iter().enumerate() {
            let Some(d) = population
                .dimensions
                .iter()
                .position(|dim| *dim == table.breakdown)
            else {
                continue;
            };
            let form = |row: Option<&str>, class: Option<usize>| -> Vec<usize> {
                let mut f = Vec::new();
                for (i, key) in keys.iter().enumerate() {
                    if row.is_some_and(|r| key[d] != r) {
                        continue;
                    }
                    for c in 0..classes {
                        if class.is_none_or(|x| x == c) {
                            f.push(offsets[p] + i * classes + c);
                        }
                    }
                }
                f
            };
            let mut push = |place: Place, form: Vec<usize>, shown: Option<u64>| {
                let sum = form.iter().map(|&i| truth[i]).sum();
                out.push(Value {
                    at: (p, t, place),
                    form,
                    shown,
                    truth: sum,
                });
            };
            for (r, label) in table.rows.iter().enumerate() {
                for c in 0..classes {
                    push(
                        Place::Cell(r, c),
                        form(Some(label), Some(c)),
                        table.cells[r][c],
                    );
                }
                push(
                    Place::RowTotal(r),
                    form(Some(label), None),
                    table.row_totals[r],
                );
            }
            for c in 0..classes {
                push(
                    Place::ColumnTotal(c),
                    form(None, Some(c)),
                    table.column_totals[c],
                );
            }
            push(Place::Total, form(None, None), table.total);
        }
    }
    out
}

/// The links as constraints on the counts: per record key of the contained population,
/// the indexes of its counts and of the containing population's counts for that key,
/// where the records satisfy it. A key the containing population lacks has them empty.
pub(crate) fn link_rows(joint: &Joint<'_>) -> Vec<(Vec<usize>, Vec<usize>)> {
    let offsets = joint.offsets();
    let truth = joint.counts();
    let mut out = Vec::new();
    for &(within, of) in &joint.links {
        let (small, large) = (joint.populations[within], joint.populations[of]);
        let large_at: BTreeMap<&Vec<String>, usize> = large
            .counts
            .keys()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        for (i, key) in small.counts.keys().enumerate() {
            let sub: Vec<usize> = (0..small.classes.len())
                .map(|c| offsets[within] + i * small.classes.len() + c)
                .collect();
            let sup: Vec<usize> = large_at.get(key).map_or_else(Vec::new, |&j| {
                (0..large.classes.len())
                    .map(|c| offsets[of] + j * large.classes.len() + c)
                    .collect()
            });
            let sum = |vars: &[usize]| vars.iter().map(|&v| truth[v]).sum::<u64>();
            if sum(&sub) <= sum(&sup) {
                out.push((sub, sup));
            }
        }
    }
    out
}

/// How low and how high a hidden value can go.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Range {
    /// The lowest value and a set of counts reaching it ([`Joint::counts`] order), or
    /// `None` when the bound was not proven.
    pub low: Option<(f64, Vec<f64>)>,
    /// The highest and a set of counts reaching it, or `None` when unbounded
    /// (`high_unbounded`) or not proven.
    pub high: Option<(f64, Vec<f64>)>,
    pub high_unbounded: bool,
}

impl Range {
    /// Could be 0 and could be `k` or more.
    pub(crate) fn protects(&self, k: u32) -> bool {
        let low_ok = self.low.as_ref().is_some_and(|(v, _)| *v <= 1e-6);
        let high_ok = self.high_unbounded
            || self
                .high
                .as_ref()
                .is_some_and(|(v, _)| *v >= f64::from(k) - 1e-6);
        low_ok && high_ok
    }
}

/// The range of every primary hidden value (true count in `1..k`).
pub(crate) fn ranges(
    joint: &Joint<'_>,
    published: &[Vec<PublishedTable>],
    k: u32,
) -> BTreeMap<At, Range> {
    let all = values(joint, published);
    let links = link_rows(joint);
    let width = joint.counts().len();
    // A shown 0 fixes every count it adds up, and a link fixes a contained key's counts
    // where the containing population has none: they leave the programme.
    let mut zero = vec![false; width];
    for v in all.iter().filter(|v| v.shown == Some(0)) {
        v.form.iter().for_each(|&i| zero[i] = true);
    }
    for (sub, sup) in &links {
        if sup.iter().all(|&i| zero[i]) {
            sub.iter().for_each(|&i| zero[i] = true);
        }
    }
    let mut index = vec![usize::MAX; width];
    let mut kept = 0;
    for (i, z) in zero.iter().enumerate() {
        if !z {
            index[i] = kept;
            kept += 1;
        }
    }
    let reduce = |form: &[usize]| -> Vec<usize> {
        form.iter()
            .filter(|&&i| !zero[i])
            .map(|&i| index[i])
            .collect()
    };
    let mut shown: BTreeMap<Vec<usize>, f64> = BTreeMap::new();
    for v in &all {
        if let Some(n) = v.shown.filter(|n| *n > 0) {
            shown.insert(reduce(&v.form), n as f64);
        }
    }
    let mut rows: Vec<(Vec<(usize, f64)>, f64)> = shown
        .into_iter()
        .map(|(form, n)| (form.into_iter().map(|i| (i, 1.0)).collect(), n))
        .collect();
    // Each remaining link: Σ containing − Σ contained − slack = 0, one slack (≥ 0) each.
    let mut variables = kept;
    for (sub, sup) in &links {
        let (sub, sup) = (reduce(sub), reduce(sup));
        if sub.is_empty() {
            continue;
        }
        let mut row: Vec<(usize, f64)> = sup.iter().map(|&i| (i, 1.0)).collect();
        row.extend(sub.iter().map(|&i| (i, -1.0)));
        row.push((variables, -1.0));
        variables += 1;
        rows.push((row, 0.0));
    }
    let expand = |x: Vec<f64>| -> Vec<f64> {
        (0..width)
            .map(|i| if zero[i] { 0.0 } else { x[index[i]] })
            .collect()
    };
    let polytope = Polytope::new(variables, &rows);
    let mut cache: BTreeMap<Vec<usize>, Range> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for v in &all {
        if v.shown.is_some() || v.truth == 0 || v.truth >= u64::from(k) {
            continue;
        }
        let form = reduce(&v.form);
        let range = cache
            .entry(form.clone())
            .or_insert_with(|| {
                let Some(p) = &polytope else {
                    // The true counts satisfy every shown value and every link used, so
                    // this cannot happen; were it to, nothing is proven.
                    return Range {
                        low: None,
                        high: None,
                        high_unbounded: false,
                    };
                };
                let mut objective = vec![0.0; variables];
                form.iter().for_each(|&i| objective[i] = 1.0);
                let low = match p.minimise(&objective) {
                    Bound::Reached(v, x) => Some((v, expand(x))),
                    Bound::Unbounded | Bound::GaveUp => None,
                };
                let (high, high_unbounded) = match p.maximise(&objective) {
                    Bound::Reached(v, x) => (Some((v, expand(x))), false),
                    Bound::Unbounded => (None, true),
                    Bound::GaveUp => (None, false),
                };
                Range {
                    low,
                    high,
                    high_unbounded,
                }
            })
            .clone();
        out.insert(v.at, range);
    }
    out
}

/// The first primary hidden value that is not protected, if any.
pub(crate) fn first_open(
    joint: &Joint<'_>,
    published: &[Vec<PublishedTable>],
    k: u32,
) -> Option<At> {
    ranges(joint, published, k)
        .into_iter()
        .find(|(_, r)| !r.protects(k))
        .map(|(at, _)| at)
}

/// A value [`next_to_hide`] asks to hide in one population's tables. Class totals and the
/// grand total are shared by every table of the population, so they are hidden in all alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Cell(usize, (usize, usize)),
    RowTotal(usize, usize),
    ClassTotal(usize),
    Total,
}

/// The value to hide next, in a population `movable` says may still change, to widen the
/// range of the value at `at`: one on its own lines first (its row and column, and a class
/// total's column in every table), then one of its table, then of its population, then of
/// another; a cell before a total; the smallest count above 0 first. Tables of one row or
/// one column have no cells of their own (they are the shared totals). `None` when nothing
/// is left to hide.
pub(crate) fn next_to_hide(
    joint: &Joint<'_>,
    published: &[Vec<PublishedTable>],
    movable: &[bool],
    at: At,
) -> Option<(usize, Target)> {
    let (p, t, place) = at;
    let distance = |cand: &Value| -> u8 {
        let (cp, ct, cplace) = cand.at;
        let population = cp == p;
        let table = population && ct == t;
        let line = population
            && match (place, cplace) {
                (Place::Cell(r, c), Place::Cell(rr, cc)) => table && (rr == r || cc == c),
                (Place::Cell(r, _), Place::RowTotal(rr)) => table && rr == r,
                (Place::Cell(_, c), Place::ColumnTotal(cc)) => cc == c,
                (Place::RowTotal(r), Place::Cell(rr, _)) => table && rr == r,
                (Place::ColumnTotal(c), Place::Cell(_, cc)) => cc == c,
                (Place::Total, _) => true,
                _ => false,
            };
        match (line, table, population) {
            (true, _, _) => 0,
            (false, true, _) => 1,
            (false, false, true) => 2,
            _ => 3,
        }
    };
    let target = |v: &Value| -> Option<(u8, Target)> {
        let (cp, ct, place) = v.at;
        if !movable.get(cp).copied().unwrap_or(false) {
            return None;
        }
        let table = &published[cp][ct];
        let (rows, columns) = (table.rows.len(), table.columns.len());
        match place {
            Place::Cell(r, c) if rows > 1 && columns > 1 => Some((0, Target::Cell(ct, (r, c)))),
            Place::RowTotal(r) if rows > 1 => Some((1, Target::RowTotal(ct, r))),
            Place::ColumnTotal(c) if columns > 1 => Some((2, Target::ClassTotal(c))),
            Place::Total => Some((3, Target::Total)),
            _ => None,
        }
    };
    values(joint, published)
        .iter()
        .filter(|v| v.shown.is_some())
        .filter_map(|v| {
            target(v).map(|(kind, to)| {
                let key = (distance(v), kind, v.truth == 0, v.truth, v.at);
                (key, (v.at.0, to))
            })
        })
        .min_by_key(|(key, _)| *key)
        .map(|(_, to)| to)
}

/// Hides every value of every table: the last resort when hiding cells cannot protect a
/// value (the shared totals alone bound it).
pub(crate) fn hide_everything(tables: &mut [PublishedTable]) {
    for table in tables {
        table.cells.iter_mut().flatten().for_each(|c| *c = None);
        table.row_totals.iter_mut().for_each(|c| *c = None);
        table.column_totals.iter_mut().for_each(|c| *c = None);
        table.total = None;
    }
}
