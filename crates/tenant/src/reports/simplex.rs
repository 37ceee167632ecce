//! A small linear-programme solver for the interval audit ([`crate::reports::intervals`]):
//! the counts a report leaves hidden, as far as its shown values and non-negativity allow,
//! range over a polytope `{x ≥ 0 : A x = b}`; how low and how high one hidden count can go
//! is a linear programme over it, the method statistical offices' disclosure tools use.
//!
//! Dense two-phase simplex with Bland's rule (it cannot cycle), on `f64`: the constraint
//! rows are sums and differences of counts (coefficients 1 and −1) equal to whole numbers,
//! so the tableau stays small and well scaled. Phase one finds a vertex once per set of shown values;
//! every bound asked of the same values then starts from it ([`Polytope::maximise`]).
//! A solution comes with its point, so a caller can check it with plain arithmetic.

/// A pivot or a reduced cost below this is zero.
const EPS: f64 = 1e-9;
/// A bound is given up past this many pivots (it never came near in the tests; a caller
/// treats a given-up bound as not proven).
const MAX_PIVOTS: usize = 100_000;

/// `{x ≥ 0 : A x = b}` with a feasible basis, ready to optimise over.
#[derive(Debug, Clone)]
pub(crate) struct Polytope {
    width: usize,
    /// One row per independent constraint: coefficients of the `width` variables, then the
    /// right-hand side. Basic columns are unit columns.
    tableau: Vec<Vec<f64>>,
    basis: Vec<usize>,
}

/// How far an objective goes over a polytope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bound {
    /// The best value and a point reaching it.
    Reached(f64, Vec<f64>),
    /// No limit in that direction.
    Unbounded,
    /// The pivot budget ran out: nothing is proven.
    GaveUp,
}

enum Outcome {
    Optimal,
    Unbounded,
    GaveUp,
}

impl Polytope {
    /// The polytope of `x ≥ 0` (`width` variables) where, for every row, the variables it
    /// names, each times its coefficient, add up to its value (not negative). `None` when
    /// no such `x` exists.
    pub(crate) fn new(width: usize, rows: &[(Vec<(usize, f64)>, f64)]) -> Option<Self> {
        let m = rows.len();
        let columns = width + m;
        let mut tableau: Vec<Vec<f64>> = rows
            .iter()
            .enumerate()
            .map(|(i, (vars, value))| {
                let mut line = vec![0.0; columns + 1];
                for &(v, a) in vars {
                    line[v] += a;
                }
                line[width + i] = 1.0;
                line[columns] = *value;
                line
            })
            .collect();
        let mut basis: Vec<usize> = (width..columns).collect();
        // Phase one: minimise the sum of the artificial variables.
        let mut cost = vec![0.0; columns];
        cost[width..].iter_mut().for_each(|c| *c = 1.0);
        let mut objective = reduced_costs(&tableau, &basis, &cost);
        match optimise(&mut tableau, &mut basis, &mut objective, columns) {
            Outcome::Optimal => {}
            Outcome::Unbounded | Outcome::GaveUp => return None,
        }
        let scale = rows.iter().map(|(_, v)| v.abs()).fold(1.0, f64::max);
        if -objective[columns] > 1e-7 * scale {
            return None;
        }
        // Drive the artificial variables out of the basis; a row where none of the real
        // variables can enter is a consequence of the others and goes.
        let mut i = 0;
        while i < tableau.len() {
            if basis[i] >= width {
                if let Some(j) = (0..width).find(|&j| tableau[i][j].abs() > EPS) {
                    pivot(&mut tableau, &mut basis, &mut objective, i, j);
                } else {
                    tableau.remove(i);
                    basis.remove(i);
                    continue;
                }
            }
            i += 1;
        }
        for line in &mut tableau {
            let rhs = line[columns];
            line.truncate(width);
            line.push(rhs);
        }
        Some(Self {
            width,
            tableau,
            basis,
        })
    }

    /// The largest value of `Σ objective[j] · x[j]` over the polytope.
    pub(crate) fn maximise(&self, objective: &[f64]) -> Bound {
        let cost: Vec<f64> = objective.iter().map(|c| -c).collect();
        match self.minimise(&cost) {
            Bound::Reached(v, x) => Bound::Reached(-v, x),
            other => other,
        }
    }

    /// The smallest value of `Σ objective[j] · x[j]` over the polytope.
    pub(crate) fn minimise(&self, objective: &[f64]) -> Bound {
        let mut tableau = self.tableau.clone();
        let mut basis = self.basis.clone();
        let mut reduced = reduced_costs(&tableau, &basis, objective);
        match optimise(&mut tableau, &mut basis, &mut reduced, self.width) {
            Outcome::Optimal => {
                let mut x = vec![0.0; self.width];
                for (line, &b) in tableau.iter().zip(&basis) {
                    x[b] = line[self.width];
                }
                Bound::Reached(-reduced[self.width], x)
            }
            Outcome::Unbounded => Bound::Unbounded,
            Outcome::GaveUp => Bound::GaveUp,
        }
    }
}

/// The objective row for `cost` with the tableau's basis: reduced cost per column, then
/// minus the objective's value at the basis.
fn reduced_costs(tableau: &[Vec<f64>], basis: &[usize], cost: &[f64]) -> Vec<f64> {
    let columns = tableau.first().map_or(cost.len(), |l| l.len() - 1);
    let mut row: Vec<f64> = (0..columns)
        .map(|j| cost.get(j).copied().unwrap_or(0.0))
        .collect();
    row.push(0.0);
    for (line, &b) in tableau.iter().zip(basis) {
        let cb = cost.get(b).copied().unwrap_or(0.0);
        if cb != 0.0 {
            for (r, v) in row.iter_mut().zip(line) {
                *r -= cb * v;
            }
        }
    }
    row
}

/// Minimises from a feasible basis over the first `allowed` columns (Bland's rule).
fn optimise(
    tableau: &mut [Vec<f64>],
    basis: &mut [usize],
    objective: &mut [f64],
    allowed: usize,
) -> Outcome {
    let rhs = objective.len() - 1;
    for _ in 0..MAX_PIVOTS {
        let Some(entering) = (0..allowed).find(|&j| objective[j] < -EPS) else {
            return Outcome::Optimal;
        };
        let mut leaving: Option<(f64, usize, usize)> = None;
        for (i, line) in tableau.iter().enumerate() {
            if line[entering] > EPS {
                let ratio = line[rhs] / line[entering];
                let better = match leaving {
                    None => true,
                    Some((r, _, b)) => ratio < r - EPS || (ratio <= r + EPS && basis[i] < b),
                };
                if better {
                    leaving = Some((ratio, i, basis[i]));
                }
            }
        }
        let Some((_, row, _)) = leaving else {
            return Outcome::Unbounded;
        };
        pivot(tableau, basis, objective, row, entering);
    }
    Outcome::GaveUp
}

fn pivot(
    tableau: &mut [Vec<f64>],
    basis: &mut [usize],
    objective: &mut [f64],
    row: usize,
    column: usize,
) {
    let p = tableau[row][column];
    tableau[row].iter_mut().for_each(|v| *v /= p);
    let pivot_line = tableau[row].clone();
    let eliminate = |line: &mut [f64]| {
        let f = line[column];
        if f != 0.0 {
            for (v, pv) in line.iter_mut().zip(&pivot_line) {
                *v -= f * pv;
            }
            line[column] = 0.0;
        }
    };
    for (i, line) in tableau.iter_mut().enumerate() {
        if i != row {
            eliminate(line);
        }
    }
    eliminate(objective);
    basis[row] = column;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ones(vars: &[usize]) -> Vec<(usize, f64)> {
        vars.iter().map(|&v| (v, 1.0)).collect()
    }

    fn value(b: Bound) -> Option<f64> {
        match b {
            Bound::Reached(v, _) => Some(v),
            _ => None,
        }
    }

    #[test]
    fn a_two_by_two_cycle_ranges_from_zero_to_the_smaller_margin() {
        // a + b = 10, c + d = 20, a + c = 9, b + d = 21 (a consequence of the others).
        let p = Polytope::new(
            4,
            &[
                (ones(&[0, 1]), 10.0),
                (ones(&[2, 3]), 20.0),
                (ones(&[0, 2]), 9.0),
                (ones(&[1, 3]), 21.0),
            ],
        )
        .unwrap();
        assert_eq!(value(p.maximise(&[1.0, 0.0, 0.0, 0.0])), Some(9.0));
        assert_eq!(value(p.minimise(&[1.0, 0.0, 0.0, 0.0])), Some(0.0));
        // d = 11 + a: never below 11.
        assert_eq!(value(p.minimise(&[0.0, 0.0, 0.0, 1.0])), Some(11.0));
    }

    #[test]
    fn an_unconstrained_variable_is_unbounded_and_contradictions_are_infeasible() {
        let p = Polytope::new(2, &[(ones(&[0]), 3.0)]).unwrap();
        assert_eq!(p.maximise(&[0.0, 1.0]), Bound::Unbounded);
        assert_eq!(value(p.maximise(&[1.0, 0.0])), Some(3.0));
        assert!(Polytope::new(2, &[(ones(&[0, 1]), 3.0), (ones(&[0]), 5.0)]).is_none());
    }

    #[test]
    fn a_difference_bounds_one_side() {
        // x0 − x1 − s = 0 (x0 ≥ x1) with x0 = 4: x1 is at most 4.
        let p = Polytope::new(
            3,
            &[
                (vec![(0, 1.0), (1, -1.0), (2, -1.0)], 0.0),
                (ones(&[0]), 4.0),
            ],
        )
        .unwrap();
        assert_eq!(value(p.maximise(&[0.0, 1.0, 0.0])), Some(4.0));
    }
}
