//! Exact linear algebra for the suppression tests: whether a hidden value follows from the
//! shown ones is whether its equation lies in the span of theirs.

fn gcd(a: i128, b: i128) -> i128 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Rank of integer rows (exact, fraction-free elimination).
pub(crate) fn rank(mut rows: Vec<Vec<i128>>) -> usize {
    let width = rows.first().map_or(0, Vec::len);
    let mut rank = 0;
    for col in 0..width {
        let Some(p) = (rank..rows.len()).find(|&i| rows[i][col] != 0) else {
            continue;
        };
        rows.swap(rank, p);
        let pivot = rows[rank].clone();
        for (i, row) in rows.iter_mut().enumerate() {
            if i == rank || row[col] == 0 {
                continue;
            }
            let f = row[col];
            for (x, &pv) in row.iter_mut().zip(&pivot) {
                *x = *x * pivot[col] - pv * f;
            }
            let g = row.iter().fold(0, |g, &x| gcd(g, x));
            if g > 1 {
                row.iter_mut().for_each(|x| *x /= g);
            }
        }
        rank += 1;
    }
    rank
}
