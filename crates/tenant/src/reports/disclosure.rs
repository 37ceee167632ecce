//! What one population's reports may show (C7): every table of a population over one period
//! is suppressed together, so that no combination of them gives away a hidden count.
//!
//! A population is a set of counted records (enrollments started in a period, completions
//! recorded in it, …), each falling in one class (its state, how long it took, …) and
//! carrying one label per dimension (its course, its cohort). Reports show it broken down
//! by one dimension at a time (rows) against its classes (columns), or as one line.
//!
//! The tables of one population share their totals: the class totals and the grand total
//! appear in every table, a dimension's totals in every table broken down by it. Suppressed
//! one table at a time, a total hidden in one table to protect a cell could be shown by
//! another, and the hidden cell read off from there. So the shared lines are suppressed
//! first, once for the population ([`suppress_line_and`], the grand total first), and each
//! table keeps them as they are and protects its own cells with inner cells only
//! ([`suppress_with_margins_and`]). Tables are only ever crossed with the classes, never one
//! dimension with another: the tables then share nothing but those lines, and hiding the
//! shared values alike in all of them leaves every hidden value as free as it was in its
//! own table (the unit tests check the tables together, by linear algebra).
//!
//! Underivable is not yet uncertain: counts are never negative, which can bound a hidden
//! count as surely as an equation. The interval audit ([`intervals`]) then asks for one
//! more value to be hidden, and everything is suppressed again with it, until every hidden
//! count from 1 to `k − 1` could, for all the tables show, be 0 and could be `k` or more
//! (the unit tests check each such claim on the audit's own witnesses).

use crate::reports::intervals::{self, Target};
use crate::reports::suppression::{
    CountTable, PinnedMargins, SuppressedTable, suppress_line_and, suppress_with_margins_and,
};
use std::collections::BTreeMap;

/// The counts a producer reads for one period: per record key (one label per dimension, in
/// the order of `dimensions`) the count per class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Population {
    /// The dimensions rows can be broken down by (`course`, `cohort`, …).
    pub dimensions: Vec<&'static str>,
    /// The field the classes are values of (`state`, `time_to_complete`, …).
    pub class_field: &'static str,
    /// Every class, in order; every record falls in exactly one.
    pub classes: Vec<String>,
    /// Count per record key per class (`counts[key][class]`).
    pub counts: BTreeMap<Vec<String>, Vec<u64>>,
}

impl Population {
    pub fn new(
        dimensions: Vec<&'static str>,
        class_field: &'static str,
        classes: Vec<String>,
    ) -> Self {
        Self {
            dimensions,
            class_field,
            classes,
            counts: BTreeMap::new(),
        }
    }

    /// Counts one record (or `n`) with these labels, in this class.
    pub fn add(&mut self, labels: Vec<String>, class: usize, n: u64) {
        let width = self.classes.len();
        let line = self.counts.entry(labels).or_insert_with(|| vec![0; width]);
        if let Some(slot) = line.get_mut(class) {
            *slot += n;
        }
    }

    /// Index of a class by name.
    pub fn class(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c == name)
    }

    /// The population broken down by dimension `d` against the classes.
    fn table(&self, d: usize) -> CountTable {
        let mut lines: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for (labels, counts) in &self.counts {
            let line = lines
                .entry(labels[d].as_str())
                .or_insert_with(|| vec![0; self.classes.len()]);
            for (slot, n) in line.iter_mut().zip(counts) {
                *slot += n;
            }
        }
        CountTable {
            rows: lines.keys().map(|l| (*l).to_string()).collect(),
            columns: self.classes.clone(),
            cells: lines.into_values().collect(),
        }
    }
}

/// One table as a report shows it: the population broken down by `breakdown` (a dimension)
/// against the classes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedTable {
    pub breakdown: String,
    pub class_field: String,
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    /// `None` is a hidden value.
    pub cells: Vec<Vec<Option<u64>>>,
    pub row_totals: Vec<Option<u64>>,
    pub column_totals: Vec<Option<u64>>,
    pub total: Option<u64>,
}

impl PublishedTable {
    fn from_suppressed(breakdown: &str, class_field: &str, t: SuppressedTable) -> Self {
        Self {
            breakdown: breakdown.to_string(),
            class_field: class_field.to_string(),
            rows: t.rows,
            columns: t.columns,
            cells: t.cells,
            row_totals: t.row_totals,
            column_totals: t.column_totals,
            total: t.total,
        }
    }

    /// How many values are hidden.
    pub fn suppressed(&self) -> usize {
        self.cells.iter().flatten().filter(|c| c.is_none()).count()
            + self
                .row_totals
                .iter()
                .chain(&self.column_totals)
                .filter(|c| c.is_none())
                .count()
            + usize::from(self.total.is_none())
    }
}

/// Every table of the population, suppressed together with cell size `k`: one per
/// dimension (rows) against the classes (columns). A report shows some of them, or a line
/// of one (its totals), and nothing else ([`crate::reports::view`]).
pub fn publish(population: &Population, k: u32) -> Vec<PublishedTable> {
    publish_linked(&[population], &[], &[None], k)
        .pop()
        .unwrap_or_default()
}

/// The tables of populations of one period whose records are linked, suppressed together:
/// `links` are `(within, of)`, every record of population `within` is a record of `of`
/// with the same labels (a certificate comes with a completion). `already[i]`, when given,
/// are population `i`'s tables as published before (stored): they stay as they are, the
/// others are widened until no hidden small count of any is bounded (intervals).
pub fn publish_linked(
    populations: &[&Population],
    links: &[(usize, usize)],
    already: &[Option<Vec<PublishedTable>>],
    k: u32,
) -> Vec<Vec<PublishedTable>> {
    let prepared: Vec<Prepared> = populations.iter().map(|p| Prepared::new(p, k)).collect();
    let movable: Vec<bool> = (0..populations.len())
        .map(|i| already.get(i).is_none_or(Option::is_none))
        .collect();
    let mut widened: Vec<Widened> = prepared.iter().map(Prepared::nothing_widened).collect();
    let mut published: Vec<Vec<PublishedTable>> = prepared
        .iter()
        .zip(&widened)
        .enumerate()
        .map(|(i, (p, w))| match already.get(i) {
            Some(Some(tables)) => tables.clone(),
            _ => p.build(w),
        })
        .collect();
    let joint = intervals::Joint {
        populations: populations.to_vec(),
        links: links.to_vec(),
    };
    // Widen until no hidden small count can be bounded (intervals): each step hides one
    // more value and suppresses the population's tables again around it, so no hidden
    // value becomes derivable. It ends: each step hides at least one value that was shown,
    // or, when one would not, hides everything the step could change.
    while let Some(open) = intervals::first_open(&joint, &published, k) {
        let Some((i, target)) = intervals::next_to_hide(&joint, &published, &movable, open) else {
            for (tables, _) in published.iter_mut().zip(&movable).filter(|(_, m)| **m) {
                intervals::hide_everything(tables);
            }
            break;
        };
        let before: usize = published[i].iter().map(PublishedTable::suppressed).sum();
        widened[i].add(target);
        published[i] = prepared[i].build(&widened[i]);
        if published[i]
            .iter()
            .map(PublishedTable::suppressed)
            .sum::<usize>()
            <= before
        {
            intervals::hide_everything(&mut published[i]);
        }
    }
    published
}

/// One population's tables and the totals they share, before suppression.
struct Prepared<'a> {
    population: &'a Population,
    k: u32,
    tables: Vec<CountTable>,
    class_totals: Vec<u64>,
    row_totals: Vec<Vec<u64>>,
    grand: u64,
}

impl<'a> Prepared<'a> {
    fn new(population: &'a Population, k: u32) -> Self {
        let tables: Vec<CountTable> = (0..population.dimensions.len())
            .map(|d| population.table(d))
            .collect();
        let class_totals: Vec<u64> = (0..population.classes.len())
            .map(|c| population.counts.values().map(|line| line[c]).sum())
            .collect();
        let row_totals = tables
            .iter()
            .map(|table| table.cells.iter().map(|l| l.iter().sum()).collect())
            .collect();
        Self {
            population,
            k,
            grand: class_totals.iter().sum(),
            tables,
            class_totals,
            row_totals,
        }
    }

    fn nothing_widened(&self) -> Widened {
        Widened {
            cells: vec![Vec::new(); self.tables.len()],
            row_totals: vec![Vec::new(); self.tables.len()],
            class_totals: Vec::new(),
            total: false,
        }
    }

    /// The tables suppressed: the shared lines first (the grand total, the class totals,
    /// each table's row totals), then each table's cells around them.
    fn build(&self, widened: &Widened) -> Vec<PublishedTable> {
        let k = self.k;
        let total_hidden = (self.grand > 0 && self.grand < u64::from(k)) || widened.total;
        let class_pattern =
            suppress_line_and(&self.class_totals, total_hidden, k, &widened.class_totals);
        (0..self.tables.len())
            .map(|d| {
                let pins = PinnedMargins {
                    row_totals: suppress_line_and(
                        &self.row_totals[d],
                        total_hidden,
                        k,
                        &widened.row_totals[d],
                    ),
                    column_totals: class_pattern.clone(),
                    total: total_hidden,
                };
                let suppressed =
                    suppress_with_margins_and(&self.tables[d], k, Some(&pins), &widened.cells[d]);
                PublishedTable::from_suppressed(
                    self.population.dimensions[d],
                    self.population.class_field,
                    suppressed,
                )
            })
            .collect()
    }
}

/// The values [`publish_linked`] hides beyond the small counts, at the interval audit's
/// request.
struct Widened {
    cells: Vec<Vec<(usize, usize)>>,
    row_totals: Vec<Vec<usize>>,
    class_totals: Vec<usize>,
    total: bool,
}

impl Widened {
    fn add(&mut self, target: Target) {
        match target {
            Target::Cell(d, cell) => self.cells[d].push(cell),
            Target::RowTotal(d, r) => self.row_totals[d].push(r),
            Target::ClassTotal(c) => self.class_totals.push(c),
            Target::Total => self.total = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use crate::reports::linear::rank;

    /// Every value the tables publish, as a linear form over the population's cells
    /// (record key × class) with its shown value, or `None` when hidden.
    fn forms(
        population: &Population,
        tables: &[PublishedTable],
    ) -> Vec<(Vec<i128>, Option<u64>, String)> {
        let keys: Vec<&Vec<String>> = population.counts.keys().collect();
        let classes = population.classes.len();
        let width = keys.len() * classes;
        let mut out = Vec::new();
        for (d, table) in tables.iter().enumerate() {
            let form = |row: Option<&str>, class: Option<usize>| {
                let mut f = vec![0i128; width];
                for (i, key) in keys.iter().enumerate() {
                    if row.is_some_and(|r| key[d] != r) {
                        continue;
                    }
                    for c in 0..classes {
                        if class.is_none_or(|x| x == c) {
                            f[i * classes + c] = 1;
                        }
                    }
                }
                f
            };
            for (r, label) in table.rows.iter().enumerate() {
                for c in 0..classes {
                    out.push((
                        form(Some(label), Some(c)),
                        table.cells[r][c],
                        format!("{}[{label}][{c}]", table.breakdown),
                    ));
                }
                out.push((
                    form(Some(label), None),
                    table.row_totals[r],
                    format!("{}[{label}] total", table.breakdown),
                ));
            }
            for c in 0..classes {
                out.push((
                    form(None, Some(c)),
                    table.column_totals[c],
                    format!("{} class {c} total", table.breakdown),
                ));
            }
            out.push((form(None, None), table.total, "grand total".into()));
        }
        out
    }

    /// The hidden values that follow linearly from every shown value of every table.
    fn derivable(population: &Population, tables: &[PublishedTable]) -> Vec<String> {
        let all = forms(population, tables);
        let shown: Vec<Vec<i128>> = all
            .iter()
            .filter(|(_, v, _)| v.is_some())
            .map(|(f, _, _)| f.clone())
            .collect();
        let base = rank(shown.clone());
        all.iter()
            .filter(|(_, v, _)| v.is_none())
            .filter(|(f, _, _)| {
                let mut with = shown.clone();
                with.push(f.clone());
                rank(with) == base
            })
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    /// Every primary hidden value (a count from 1 to k − 1) could be 0 and could be k or
    /// more, as far as every shown value and non-negativity tell: checked on the witnesses
    /// the audit returns, by plain arithmetic (each is a set of counts, none negative, that
    /// gives every shown value exactly).
    fn assert_ranges_protect(
        joint: &intervals::Joint<'_>,
        published: &[Vec<PublishedTable>],
        k: u32,
    ) {
        let all = intervals::values(joint, published);
        let ranges = intervals::ranges(joint, published, k);
        let links = intervals::link_rows(joint);
        let primaries = all
            .iter()
            .filter(|v| v.shown.is_none() && v.truth > 0 && v.truth < u64::from(k));
        for v in primaries {
            let range = &ranges[&v.at];
            // Every shown value, and every link where the records keep it.
            let fits = |x: &[f64]| {
                let sum = |form: &[usize]| form.iter().map(|&i| x[i]).sum::<f64>();
                x.iter().all(|&n| n >= -1e-7)
                    && all.iter().all(|s| {
                        s.shown
                            .is_none_or(|n| (sum(&s.form) - n as f64).abs() < 1e-6)
                    })
                    && links.iter().all(|(sub, sup)| sum(sub) <= sum(sup) + 1e-6)
            };
            let at = |x: &[f64]| v.form.iter().map(|&i| x[i]).sum::<f64>();
            let (_, low) = range.low.as_ref().expect("a lower bound");
            assert!(fits(low) && at(low) <= 1e-6, "{v:?} cannot be 0: {range:?}");
            if !range.high_unbounded {
                let (_, high) = range.high.as_ref().expect("an upper bound");
                assert!(
                    fits(high) && at(high) >= f64::from(k) - 1e-6,
                    "{v:?} is bounded below k={k}: {range:?}"
                );
            }
        }
    }

    fn check(population: &Population, k: u32) -> Vec<PublishedTable> {
        let tables = publish(population, k);
        for table in &tables {
            let values = table
                .cells
                .iter()
                .flatten()
                .chain(&table.row_totals)
                .chain(&table.column_totals)
                .chain([&table.total]);
            for v in values.flatten() {
                assert!(*v == 0 || *v >= u64::from(k), "{v} shown below k={k}");
            }
        }
        // Shared values are shown or hidden alike in every table.
        for pair in tables.windows(2) {
            assert_eq!(pair[0].column_totals, pair[1].column_totals);
            assert_eq!(pair[0].total, pair[1].total);
        }
        let leaks = derivable(population, &tables);
        assert!(leaks.is_empty(), "{leaks:?} derivable from {tables:#?}");
        assert_ranges_protect(
            &intervals::Joint::one(population),
            std::slice::from_ref(&tables),
            k,
        );
        tables
    }

    fn population(cells: &[(&str, &str, usize, u64)], classes: usize) -> Population {
        let mut p = Population::new(
            vec!["course", "cohort"],
            "state",
            (0..classes).map(|c| format!("s{c}")).collect(),
        );
        for (course, cohort, class, n) in cells {
            p.add(vec![(*course).into(), (*cohort).into()], *class, *n);
        }
        p
    }

    #[test]
    fn promise_c7_a_learner_alone_in_a_cohort_is_not_read_off_the_course_table() {
        // Course A: six learners of unit X and one of unit Y, all active. By course the
        // table is 7 (shown); by cohort Y's 1 is hidden, and X's 6 with it, or 7 − 6 would
        // name the one. The class total is 7 in both and shown in both.
        let p = population(&[("A", "X", 0, 6), ("A", "Y", 0, 1), ("B", "X", 1, 9)], 2);
        let tables = check(&p, 5);
        let cohorts = &tables[1];
        assert_eq!(cohorts.rows, ["X", "Y"]);
        assert_eq!(cohorts.cells[1][0], None);
        assert_eq!(cohorts.cells[0][0], None);
        assert_eq!(tables[0].cells[0][0], Some(7));
    }

    /// A population of `courses` × `cohorts` record keys over `classes` classes, each count
    /// drawn by `count` (`None`: that key and class hold no record).
    fn random_population(
        rng: &mut StdRng,
        courses: usize,
        cohorts: usize,
        classes: usize,
        mut count: impl FnMut(&mut StdRng) -> Option<u64>,
    ) -> Population {
        let mut p = Population::new(
            vec!["course", "cohort"],
            "state",
            (0..classes).map(|c| format!("s{c}")).collect(),
        );
        for a in 0..courses {
            for b in 0..cohorts {
                for c in 0..classes {
                    if let Some(n) = count(rng) {
                        p.add(vec![format!("c{a}"), format!("u{b}")], c, n);
                    }
                }
            }
        }
        p
    }

    #[test]
    fn promise_c7_no_hidden_value_derives_from_all_tables_of_a_population_together() {
        let mut rng = StdRng::seed_from_u64(0x00c7_7ab1e5);
        for _ in 0..300 {
            let courses = rng.random_range(1..=4);
            let cohorts = rng.random_range(1..=4);
            let classes = rng.random_range(1..=3);
            let k = rng.random_range(2..=6);
            let p = random_population(&mut rng, courses, cohorts, classes, |rng| {
                let n = match rng.random_range(0..4) {
                    0 => 0,
                    1 => rng.random_range(1..u64::from(k)),
                    _ => rng.random_range(0..25),
                };
                (n > 0 || rng.random_bool(0.3)).then_some(n)
            });
            if p.counts.is_empty() {
                continue;
            }
            check(&p, k);
        }
    }

    #[test]
    fn promise_c7_a_small_count_cannot_be_narrowed_below_k_by_non_negativity() {
        // One course, one cohort, three states: 1, 2 and 10 of 13. Hiding the 1 and the 2
        // (the smallest complement) leaves no hidden value derivable, but 13 − 10 = 3 says
        // that both are below 5 together. The 10 is hidden too: each could be 0 or 13.
        let p = population(&[("A", "X", 0, 1), ("A", "X", 1, 2), ("A", "X", 2, 10)], 3);
        let tables = check(&p, 5);
        for table in &tables {
            assert_eq!(table.column_totals, [None, None, None]);
            assert_eq!(table.total, Some(13));
        }
    }

    #[test]
    fn promise_c7_no_small_count_can_be_bounded_from_all_tables_of_a_population() {
        // As the test above, other seeds, more classes: every hidden count from 1 to k − 1
        // could be 0 and could be k or more, given every shown value (`check`).
        let mut rng = StdRng::seed_from_u64(0x00c7_1a7e);
        for _ in 0..200 {
            let courses = rng.random_range(1..=5);
            let cohorts = rng.random_range(1..=3);
            let classes = rng.random_range(2..=4);
            let k = rng.random_range(2..=8);
            let p = random_population(&mut rng, courses, cohorts, classes, |rng| {
                Some(match rng.random_range(0..3) {
                    0 => rng.random_range(1..u64::from(k)),
                    _ => rng.random_range(0..30),
                })
            });
            check(&p, k);
        }
    }

    #[test]
    fn promise_c7_a_certificate_count_is_not_read_off_the_completions_it_comes_with() {
        // Completions: course A has 6 of cohort X and 1 of cohort Y, course B 9 of Y.
        // Certificates: each of A's 7 completions earned one. Suppressed alone, both are
        // safe: completions by cohort are X 6 and Y 10, certificates by cohort hide Y's 1
        // and X's 6. Read together by someone who knows that only course A has learners of
        // cohort X, completions give (A, X) = 6, so at most 6 certificates are X's, and
        // Y's one is found: every certificate is a completion.
        let completions = population(&[("A", "X", 0, 6), ("A", "Y", 0, 1), ("B", "Y", 0, 9)], 1);
        let certificates = population(&[("A", "X", 0, 6), ("A", "Y", 0, 1)], 2);
        let joint = intervals::Joint {
            populations: vec![&certificates, &completions],
            links: vec![(0, 1)],
        };
        let alone = vec![publish(&certificates, 5), publish(&completions, 5)];
        assert_eq!(
            intervals::first_open(&joint, &alone, 5),
            Some((0, 1, intervals::Place::Cell(1, 0))),
            "suppressed one at a time, cohort Y's certificate is read off the completions"
        );
        let together = publish_linked(&[&certificates, &completions], &[(0, 1)], &[None, None], 5);
        assert_eq!(intervals::first_open(&joint, &together, 5), None);
        assert_ranges_protect(&joint, &together, 5);
        // Completions stored first stay as they were, and they pin cohort Y's completion
        // of course A: the certificates give way entirely.
        let after = publish_linked(
            &[&certificates, &completions],
            &[(0, 1)],
            &[None, Some(alone[1].clone())],
            5,
        );
        assert_eq!(after[1], alone[1]);
        assert!(
            after[0]
                .iter()
                .all(|t| t.suppressed() == (t.rows.len() + 1) * 3)
        );
    }

    #[test]
    fn promise_c7_linked_populations_leave_no_small_count_bounded_in_random_periods() {
        // Certificates are a random part of each record key's completions (the link holds
        // everywhere); both are suppressed together and every hidden small count of both,
        // with the link, could be 0 and could be k or more (a derivable one could not).
        let mut rng = StdRng::seed_from_u64(0x00c7_11a4);
        for _ in 0..120 {
            let courses = rng.random_range(1..=4);
            let cohorts = rng.random_range(1..=3);
            let k = rng.random_range(2..=6);
            let mut completions = Population::new(
                vec!["course", "cohort"],
                "time_to_complete",
                (0..3).map(|c| format!("t{c}")).collect(),
            );
            let mut certificates = Population::new(
                vec!["course", "cohort"],
                "status",
                vec!["valid".into(), "revoked".into()],
            );
            for a in 0..courses {
                for b in 0..cohorts {
                    if rng.random_bool(0.25) {
                        continue;
                    }
                    let key = vec![format!("c{a}"), format!("u{b}")];
                    let mut total = 0;
                    for c in 0..3 {
                        let n = match rng.random_range(0..3) {
                            0 => rng.random_range(0..u64::from(k)),
                            _ => rng.random_range(0..20),
                        };
                        completions.add(key.clone(), c, n);
                        total += n;
                    }
                    let issued = rng.random_range(0..=total);
                    let revoked = rng.random_range(0..=issued);
                    certificates.add(key.clone(), 0, issued - revoked);
                    certificates.add(key, 1, revoked);
                }
            }
            if completions.counts.is_empty() {
                continue;
            }
            let joint = intervals::Joint {
                populations: vec![&certificates, &completions],
                links: vec![(0, 1)],
            };
            let published =
                publish_linked(&[&certificates, &completions], &[(0, 1)], &[None, None], k);
            assert_ranges_protect(&joint, &published, k);
        }
    }
}
