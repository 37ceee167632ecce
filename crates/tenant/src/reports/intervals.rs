//! Interval disclosure (C7): a hidden count must stay uncertain, not only underivable.
//!
//! The suppression of [`crate::reports::disclosure`] leaves no hidden value that follows
//! exactly from the shown ones (linear algebra). Counts are never negative, though, and
//! that alone can pin a hidden value into a narrow range: two hidden cells of a line whose
//! shown total leaves 3 for them are each between 0 and 3, so whoever reads the tables
//! knows that fewer than 5 people are behind either. The audit here asks, for every hidden
//! count from 1 to `k − 1` (a primary suppression), how low and how high it can go given
//! every shown value of every table of the population and non-negativity: a linear
//! programme ([`crate::reports::simplex`]). The value is protected when it could be 0 (no
//! one could be behind it) and could be `k` or more (it need not be a small group).
//!
//! The unknowns are the population's own counts (one per record key and class), not the
//! tables' cells: the reader is assumed to know which combinations of labels occur (which
//! courses a cohort takes at all), more than the tables show, so a pattern safe against
//! that reader is safe against one who knows less.
//!
//! [`next_to_hide`] names one more value to hide (on the failing value's own lines first, a
//! cell before a total, the smallest count above 0 first), which
//! [`crate::reports::disclosure::publish`] hides and protects like a small one, in every
//! table that shows it, until every primary value is protected.

use crate::reports::disclosure::{Population, PublishedTable};
use crate::reports::simplex::{Bound, Polytope};
use std::collections::BTreeMap;

/// Where a value sits in a published table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Place {
    Cell(usize, usize),
    RowTotal(usize),
    ColumnTotal(usize),
    Total,
}

/// One value of a published table as a sum of the population's counts.
#[derive(Debug, Clone)]
pub(crate) struct Value {
    pub table: usize,
    pub place: Place,
    /// Indexes of the counts it adds up (record key × class, `key * classes + class`).
    pub form: Vec<usize>,
    pub shown: Option<u64>,
    pub truth: u64,
}

/// The population's counts, one per record key and class, in the order [`Value::form`]
/// indexes them.
pub(crate) fn counts(population: &Population) -> Vec<u64> {
    population.counts.values().flatten().copied().collect()
}

/// Every value of every table, as a sum of the population's counts.
pub(crate) fn values(population: &Population, tables: &[PublishedTable]) -> Vec<Value> {
    let truth = counts(population);
    let classes = population.classes.len();
    let keys: Vec<&Vec<String>> = population.counts.keys().collect();
    let mut out = Vec::new();
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
                        f.push(i * classes + c);
                    }
                }
            }
            f
        };
        let mut push = |place: Place, form: Vec<usize>, shown: Option<u64>| {
            let sum = form.iter().map(|&i| truth[i]).sum();
            out.push(Value {
                table: t,
                place,
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
    out
}

/// How low and how high a hidden value can go.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Range {
    /// The lowest value and a set of counts reaching it (the population's counts, in
    /// [`counts`] order), or `None` when the bound was not proven.
    pub low: Option<(f64, Vec<f64>)>,
    /// The highest, or `None` when unbounded (no witness needed) or not proven (`proven`).
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

/// The range of every primary hidden value (true count in `1..k`), keyed by its table and
/// place.
pub(crate) fn ranges(
    population: &Population,
    tables: &[PublishedTable],
    k: u32,
) -> BTreeMap<(usize, Place), Range> {
    let all = values(population, tables);
    let width = counts(population).len();
    // A shown 0 fixes every count it adds up: they leave the programme.
    let mut zero = vec![false; width];
    for v in all.iter().filter(|v| v.shown == Some(0)) {
        v.form.iter().for_each(|&i| zero[i] = true);
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
    let mut rows: BTreeMap<Vec<usize>, f64> = BTreeMap::new();
    for v in &all {
        if let Some(shown) = v.shown.filter(|s| *s > 0) {
            rows.insert(reduce(&v.form), shown as f64);
        }
    }
    let rows: Vec<(Vec<usize>, f64)> = rows.into_iter().collect();
    let expand = |x: Vec<f64>| -> Vec<f64> {
        (0..width)
            .map(|i| if zero[i] { 0.0 } else { x[index[i]] })
            .collect()
    };
    let polytope = Polytope::new(kept, &rows);
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
                    // The true counts satisfy every shown value, so this cannot happen;
                    // were it to, nothing is proven and the value is treated as open.
                    return Range {
                        low: None,
                        high: None,
                        high_unbounded: false,
                    };
                };
                let mut objective = vec![0.0; kept];
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
        out.insert((v.table, v.place), range);
    }
    out
}

/// The first primary hidden value that is not protected, if any.
pub(crate) fn first_open(
    population: &Population,
    tables: &[PublishedTable],
    k: u32,
) -> Option<(usize, Place)> {
    ranges(population, tables, k)
        .into_iter()
        .find(|(_, r)| !r.protects(k))
        .map(|(at, _)| at)
}

/// A value [`next_to_hide`] asks to hide. Class totals and the grand total are shared by
/// every table of the population, so they are hidden in all alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Cell(usize, (usize, usize)),
    RowTotal(usize, usize),
    ClassTotal(usize),
    Total,
}

/// The value to hide next to widen the range of the value at `at`: one on its own lines
/// first (its row and column, and a class total's column in every table), then one of its
/// table, then any; a cell before a total; the smallest count above 0 first. Tables of one
/// row or one column have no cells of their own (they are the shared totals). `None` when
/// nothing is left to hide.
pub(crate) fn next_to_hide(
    population: &Population,
    tables: &[PublishedTable],
    at: (usize, Place),
) -> Option<Target> {
    let (t, place) = at;
    let distance = |cand: &Value| -> u8 {
        let same = cand.table == t;
        let line = match (place, cand.place) {
            (Place::Cell(r, c), Place::Cell(rr, cc)) => same && (rr == r || cc == c),
            (Place::Cell(r, _), Place::RowTotal(rr)) => same && rr == r,
            (Place::Cell(_, c), Place::ColumnTotal(cc)) => cc == c,
            (Place::RowTotal(r), Place::Cell(rr, _)) => same && rr == r,
            (Place::ColumnTotal(c), Place::Cell(_, cc)) => cc == c,
            (Place::Total, _) => true,
            _ => false,
        };
        match (line, same) {
            (true, _) => 0,
            (false, true) => 1,
            (false, false) => 2,
        }
    };
    let target = |v: &Value| -> Option<(u8, Target)> {
        let table = &tables[v.table];
        let (rows, columns) = (table.rows.len(), table.columns.len());
        match v.place {
            Place::Cell(r, c) if rows > 1 && columns > 1 => {
                Some((0, Target::Cell(v.table, (r, c))))
            }
            Place::RowTotal(r) if rows > 1 => Some((1, Target::RowTotal(v.table, r))),
            Place::ColumnTotal(c) if columns > 1 => Some((2, Target::ClassTotal(c))),
            Place::Total => Some((3, Target::Total)),
            _ => None,
        }
    };
    values(population, tables)
        .iter()
        .filter(|v| v.shown.is_some())
        .filter_map(|v| {
            target(v).map(|(kind, to)| {
                (
                    (distance(v), kind, v.truth == 0, v.truth, v.table, v.place),
                    to,
                )
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
