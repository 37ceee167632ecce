//! Small-cell suppression of an aggregate table (C7).
//!
//! A report table is a grid of counts (rows × columns) with its row totals, column totals
//! and grand total. Shown as they are, a count of 1 in a cohort names a person, and a hidden
//! cell can be worked out when a total minus the shown cells of its line leaves only it.
//!
//! [`suppress`] works on the table with its margins (an extra column of row totals, an extra
//! row of column totals, the grand total in the corner), where every line is one equation:
//! the inner cells of a line add up to its total.
//!
//! - Primary suppression: every count (cell or total) that is above 0 and below `k` is hidden.
//! - Complementary suppression: a hidden entry is derivable from the shown ones exactly when
//!   it is a bridge of the bipartite graph whose nodes are the lines and whose edges are the
//!   hidden entries (an entry on a cycle can be moved by +1/−1 around the cycle without any
//!   shown value changing). While a hidden entry is a bridge, one more entry of its row or
//!   column is hidden: one that closes a cycle through it if there is one, and of those the
//!   smallest count above 0 (a hidden 0 beside a hidden cell protects less).
//!
//! The property tests check the result with an independent method (linear algebra over the
//! equations, not the graph): no hidden value is a linear consequence of the shown ones.

/// A table of counts to be shown: `cells[row][column]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountTable {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    pub cells: Vec<Vec<u64>>,
}

/// The table as it may be shown: `None` is a suppressed value. Totals are the true totals
/// of the whole table (computed before suppression), shown or hidden like any cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressedTable {
    pub rows: Vec<String>,
    pub columns: Vec<String>,
    pub cells: Vec<Vec<Option<u64>>>,
    pub row_totals: Vec<Option<u64>>,
    pub column_totals: Vec<Option<u64>>,
    pub total: Option<u64>,
}

impl SuppressedTable {
    /// How many values (cells and totals) are hidden.
    pub fn suppressed(&self) -> usize {
        let inner = self.cells.iter().flatten().filter(|c| c.is_none()).count();
        let margins = self
            .row_totals
            .iter()
            .chain(&self.column_totals)
            .filter(|c| c.is_none())
            .count();
        inner + margins + usize::from(self.total.is_none())
    }
}

/// The smallest and largest cell size an institution may set.
pub const MIN_CELL_SIZE_RANGE: std::ops::RangeInclusive<u32> = 2..=100;
/// The cell size when an institution sets none.
pub const DEFAULT_MIN_CELL_SIZE: u32 = 5;

/// The table with margins: `(rows + 1) × (columns + 1)`, totals in the last row and column.
fn augmented(table: &CountTable) -> Vec<Vec<u64>> {
    let columns = table.columns.len();
    let mut m: Vec<Vec<u64>> = table
        .cells
        .iter()
        .map(|row| {
            let mut line: Vec<u64> = (0..columns)
                .map(|c| row.get(c).copied().unwrap_or(0))
                .collect();
            line.push(line.iter().sum());
            line
        })
        .collect();
    let totals: Vec<u64> = (0..=columns)
        .map(|c| m.iter().map(|row| row[c]).sum())
        .collect();
    m.push(totals);
    m
}

/// Hides every count in `1..k` and as many others as keep each hidden value underivable.
pub fn suppress(table: &CountTable, k: u32) -> SuppressedTable {
    suppress_with_margins(table, k, None)
}

/// Which margins of a table another table of the same population also shows, decided once
/// for the population ([`crate::reports::disclosure`]): `true` is hidden. The table keeps
/// them as they are and protects its own hidden values with inner cells only, so every
/// table of the population shows and hides a shared total alike, and none gives away what
/// another hides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedMargins {
    pub row_totals: Vec<bool>,
    pub column_totals: Vec<bool>,
    pub total: bool,
}

/// [`suppress`], with the margins fixed by `pinned` when given.
pub fn suppress_with_margins(
    table: &CountTable,
    k: u32,
    pinned: Option<&PinnedMargins>,
) -> SuppressedTable {
    suppress_with_margins_and(table, k, pinned, &[])
}

/// [`suppress_with_margins`], with the inner cells `also` (row, column) hidden as if they
/// were small, and protected like them: the interval audit's widening
/// ([`crate::reports::intervals`]).
pub fn suppress_with_margins_and(
    table: &CountTable,
    k: u32,
    pinned: Option<&PinnedMargins>,
    also: &[(usize, usize)],
) -> SuppressedTable {
    let m = augmented(table);
    let (rows, columns) = (m.len(), m[0].len());
    let (inner_rows, inner_columns) = (rows - 1, columns - 1);
    let k = u64::from(k);
    let mut hidden: Vec<Vec<bool>> = m
        .iter()
        .map(|row| row.iter().map(|&v| v > 0 && v < k).collect())
        .collect();
    let mut fixed = vec![vec![false; columns]; rows];
    if let Some(pins) = pinned {
        for r in 0..inner_rows {
            hidden[r][inner_columns] = pins.row_totals.get(r).copied().unwrap_or(true);
            fixed[r][inner_columns] = true;
        }
        for c in 0..inner_columns {
            hidden[inner_rows][c] = pins.column_totals.get(c).copied().unwrap_or(true);
            fixed[inner_rows][c] = true;
        }
        hidden[inner_rows][inner_columns] = pins.total;
        fixed[inner_rows][inner_columns] = true;
        // One row: its cells are the column totals; one column: its cells are the row
        // totals. They are the same values, so they are shown or hidden as those are.
        if inner_rows == 1 {
            for c in 0..inner_columns {
                hidden[0][c] = hidden[inner_rows][c];
                fixed[0][c] = true;
            }
        }
        if inner_columns == 1 {
            for r in 0..inner_rows {
                hidden[r][0] = hidden[r][inner_columns];
                fixed[r][0] = true;
            }
        }
    }
    for &(r, c) in also {
        if r < inner_rows && c < inner_columns && !fixed[r][c] {
            hidden[r][c] = true;
        }
    }
    while let Some((r, c)) = first_bridge(&hidden) {
        let (reach_rows, reach_columns) = reachable(&hidden, r, (r, c));
        type Key = (bool, bool, u64, usize, usize);
        let mut best: Option<(Key, (usize, usize))> = None;
        let consider = |best: &mut Option<(Key, (usize, usize))>, rr: usize, cc: usize| {
            if hidden[rr][cc] || fixed[rr][cc] {
                return;
            }
            // A new entry closes a cycle through (r, c) when it joins r's side to c's:
            // in c's column, a row reached from r; in r's row, a column not reached
            // (a preference only: the loop checks again).
            let closes = if cc == c {
                reach_rows[rr]
            } else {
                rr == r && !reach_columns[cc]
            };
            let key = (!closes, m[rr][cc] == 0, m[rr][cc], rr, cc);
            if best.is_none_or(|(b, _)| key < b) {
                *best = Some((key, (rr, cc)));
            }
        };
        for cc in 0..columns {
            consider(&mut best, r, cc);
        }
        for rr in 0..rows {
            consider(&mut best, rr, c);
        }
        if best.is_none() {
            for rr in 0..rows {
                for cc in 0..columns {
                    consider(&mut best, rr, cc);
                }
            }
        }
        match best {
            Some((_, (rr, cc))) => hidden[rr][cc] = true,
            // Nothing left to hide but fixed margins: hide every entry that is not fixed.
            // With pinned margins (each line's pattern safe on its own) and at least two
            // rows and columns, every hidden entry then lies on a cycle.
            None => {
                for (line, fixed_line) in hidden.iter_mut().zip(&fixed) {
                    for (h, &f) in line.iter_mut().zip(fixed_line) {
                        *h |= !f;
                    }
                }
                break;
            }
        }
    }
    let show = |r: usize, c: usize| (!hidden[r][c]).then_some(m[r][c]);
    SuppressedTable {
        rows: table.rows.clone(),
        columns: table.columns.clone(),
        cells: (0..inner_rows)
            .map(|r| (0..inner_columns).map(|c| show(r, c)).collect())
            .collect(),
        row_totals: (0..inner_rows).map(|r| show(r, inner_columns)).collect(),
        column_totals: (0..inner_columns).map(|c| show(inner_rows, c)).collect(),
        total: show(inner_rows, inner_columns),
    }
}

/// Which entries of one line of counts to hide, given whether its total is hidden: every
/// count in `1..k`, and when that leaves a single hidden entry beside a shown total (the
/// total minus the rest would give it away), the smallest other count as well (above 0 if
/// there is one). A line of one entry is its total.
pub fn suppress_line(values: &[u64], total_hidden: bool, k: u32) -> Vec<bool> {
    suppress_line_and(values, total_hidden, k, &[])
}

/// [`suppress_line`], with the entries `also` hidden as if they were small (the interval
/// audit's widening, [`crate::reports::intervals`]).
pub fn suppress_line_and(values: &[u64], total_hidden: bool, k: u32, also: &[usize]) -> Vec<bool> {
    let k = u64::from(k);
    if values.len() == 1 {
        return vec![total_hidden];
    }
    let mut hidden: Vec<bool> = values.iter().map(|&v| v > 0 && v < k).collect();
    for &i in also {
        if let Some(h) = hidden.get_mut(i) {
            *h = true;
        }
    }
    let count = hidden.iter().filter(|&&h| h).count();
    if !total_hidden && count == 1 {
        let pick = values
            .iter()
            .enumerate()
            .filter(|&(i, _)| !hidden[i])
            .min_by_key(|&(i, &v)| (v == 0, v, i))
            .map(|(i, _)| i);
        if let Some(i) = pick {
            hidden[i] = true;
        }
    }
    if total_hidden && count == 0 {
        // A hidden total beside a line shown whole would be their sum: hide the smallest.
        if let Some((i, _)) = values
            .iter()
            .enumerate()
            .min_by_key(|&(i, &v)| (v == 0, v, i))
        {
            hidden[i] = true;
        }
    }
    hidden
}

/// Rows and columns reachable from row `from` over hidden entries, not using `without`.
fn reachable(hidden: &[Vec<bool>], from: usize, without: (usize, usize)) -> (Vec<bool>, Vec<bool>) {
    let (rows, columns) = (hidden.len(), hidden[0].len());
    let mut seen_rows = vec![false; rows];
    let mut seen_columns = vec![false; columns];
    seen_rows[from] = true;
    // Nodes: rows are 0..rows, columns are rows..rows+columns.
    let mut stack = vec![from];
    while let Some(node) = stack.pop() {
        if node < rows {
            for c in 0..columns {
                if hidden[node][c] && (node, c) != without && !seen_columns[c] {
                    seen_columns[c] = true;
                    stack.push(rows + c);
                }
            }
        } else {
            let c = node - rows;
            for r in 0..rows {
                if hidden[r][c] && (r, c) != without && !seen_rows[r] {
                    seen_rows[r] = true;
                    stack.push(r);
                }
            }
        }
    }
    (seen_rows, seen_columns)
}

/// The first hidden entry (in reading order) that lies on no cycle of hidden entries.
fn first_bridge(hidden: &[Vec<bool>]) -> Option<(usize, usize)> {
    for (r, line) in hidden.iter().enumerate() {
        for (c, &h) in line.iter().enumerate() {
            if h && !reachable(hidden, r, (r, c)).1[c] {
                return Some((r, c));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    fn table(cells: Vec<Vec<u64>>) -> CountTable {
        CountTable {
            rows: (0..cells.len()).map(|r| format!("r{r}")).collect(),
            columns: (0..cells[0].len()).map(|c| format!("c{c}")).collect(),
            cells,
        }
    }

    /// The suppressed table with margins, `None` for hidden.
    fn shown(s: &SuppressedTable) -> Vec<Vec<Option<u64>>> {
        let mut m: Vec<Vec<Option<u64>>> = s
            .cells
            .iter()
            .zip(&s.row_totals)
            .map(|(row, total)| row.iter().copied().chain([*total]).collect())
            .collect();
        m.push(s.column_totals.iter().copied().chain([s.total]).collect());
        m
    }

    use crate::reports::linear::rank;

    /// The hidden entries whose value follows linearly from the shown values: `e_x` lies in
    /// the row space of the line equations restricted to the hidden unknowns.
    fn derivable(shown: &[Vec<Option<u64>>]) -> Vec<(usize, usize)> {
        let (rows, columns) = (shown.len(), shown[0].len());
        let unknowns: Vec<(usize, usize)> = (0..rows)
            .flat_map(|r| (0..columns).map(move |c| (r, c)))
            .filter(|&(r, c)| shown[r][c].is_none())
            .collect();
        let index = |r: usize, c: usize| unknowns.iter().position(|&u| u == (r, c));
        let mut equations = Vec::new();
        // Row r: inner cells minus the row total is 0; the same for columns.
        for r in 0..rows {
            let mut eq = vec![0i128; unknowns.len()];
            for c in 0..columns {
                if let Some(i) = index(r, c) {
                    eq[i] = if c == columns - 1 { -1 } else { 1 };
                }
            }
            equations.push(eq);
        }
        for c in 0..columns {
            let mut eq = vec![0i128; unknowns.len()];
            for r in 0..rows {
                if let Some(i) = index(r, c) {
                    eq[i] = if r == rows - 1 { -1 } else { 1 };
                }
            }
            equations.push(eq);
        }
        let base = rank(equations.clone());
        unknowns
            .iter()
            .enumerate()
            .filter(|&(i, _)| {
                let mut with = equations.clone();
                let mut e = vec![0i128; unknowns.len()];
                e[i] = 1;
                with.push(e);
                rank(with) == base
            })
            .map(|(_, &u)| u)
            .collect()
    }

    fn check(cells: Vec<Vec<u64>>, k: u32) -> SuppressedTable {
        let t = table(cells);
        let s = suppress(&t, k);
        let truth = augmented(&t);
        let shown = shown(&s);
        for (r, line) in shown.iter().enumerate() {
            for (c, v) in line.iter().enumerate() {
                if let Some(v) = v {
                    assert_eq!(*v, truth[r][c], "shown values are the true ones");
                    assert!(
                        *v == 0 || *v >= u64::from(k),
                        "{v} < k={k} shown at {r},{c}"
                    );
                }
            }
        }
        assert_eq!(derivable(&shown), vec![], "derivable in {t:?} → {s:?}");
        s
    }

    #[test]
    fn promise_c7_a_cohort_of_one_is_hidden_with_its_complement() {
        // One course, six learners: five in one unit, one alone in another.
        let s = check(vec![vec![5], vec![1]], 5);
        assert_eq!(s.cells[1][0], None);
        assert_eq!(s.row_totals[1], None);
        // The other unit's count is hidden too, or 6 − 5 would give the one away.
        assert_eq!(s.cells[0][0], None);
    }

    #[test]
    fn a_table_with_no_small_cells_is_shown_whole() {
        let s = check(vec![vec![5, 7], vec![0, 9]], 5);
        assert_eq!(s.suppressed(), 0);
        assert_eq!(s.total, Some(21));
    }

    #[test]
    fn one_small_cell_hides_the_next_smallest_in_its_row_and_column() {
        let s = check(vec![vec![2, 9, 30], vec![8, 40, 50], vec![20, 6, 70]], 5);
        assert_eq!(s.cells[0][0], None);
        assert!(s.suppressed() >= 4, "{s:?}");
    }

    #[test]
    fn promise_c7_no_suppressed_value_derives_from_the_rest_in_random_tables() {
        let mut rng = StdRng::seed_from_u64(0x00c7_5eed);
        for _ in 0..400 {
            let rows = rng.random_range(1..=6);
            let columns = rng.random_range(1..=6);
            let k = rng.random_range(2..=10);
            let cells = (0..rows)
                .map(|_| {
                    (0..columns)
                        .map(|_| match rng.random_range(0..4) {
                            0 => 0,
                            1 => rng.random_range(1..u64::from(k)),
                            _ => rng.random_range(0..40),
                        })
                        .collect()
                })
                .collect();
            check(cells, k);
        }
    }
}
