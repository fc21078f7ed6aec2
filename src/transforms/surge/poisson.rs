//! Poisson tail probabilities: the test for "more arrivals than the baseline explains".
//!
//! Arrivals of independent callers in a window are close to Poisson, so a count is judged by
//! the chance of seeing at least that many when the baseline rate holds.

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, nine coefficients; about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `P(X = k)` for `X ~ Poisson(lambda)`, computed in log space so large counts do not overflow.
pub fn pmf(k: u64, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    let k = k as f64;
    (k * lambda.ln() - lambda - ln_gamma(k + 1.0)).exp()
}

/// `P(X >= k)` for `X ~ Poisson(lambda)`: the p-value of observing `k` arrivals.
pub fn upper_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    let kf = k as f64;
    if kf > lambda {
        // Sum upward from k: each term is the previous times lambda/(i), a shrinking ratio.
        let mut term = pmf(k, lambda);
        let mut sum = term;
        let mut i = kf + 1.0;
        while term > sum * 1e-17 && i < kf + 10_000.0 {
            term *= lambda / i;
            sum += term;
            i += 1.0;
        }
        sum.min(1.0)
    } else {
        // The tail is large here; subtract the lower sum, summed downward from k - 1.
        let mut term = pmf(k - 1, lambda);
        let mut lower = term;
        let mut i = kf - 1.0;
        while i > 0.0 && term > lower * 1e-17 {
            term *= i / lambda;
            lower += term;
            i -= 1.0;
        }
        (1.0 - lower).clamp(0.0, 1.0)
    }
}

/// The smallest `k` with `P(X <= k) >= p` for `X ~ Poisson(lambda)`: the `p` quantile.
pub fn quantile(p: f64, lambda: f64) -> u64 {
    if lambda <= 0.0 || p <= 0.0 {
        return 0;
    }
    // P(X <= k) = 1 - P(X >= k + 1), which rises with k; the answer is below this bound for
    // any p short of 1 - 1e-20.
    let (mut lo, mut hi) = (0u64, (lambda + 12.0 * lambda.sqrt() + 30.0).ceil() as u64);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if 1.0 - upper_tail(mid + 1, lambda) >= p {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// The smallest `k >= from` with `P(X >= k) < p`: the count from which a test at level `p`
/// calls the rate `lambda` exceeded.
pub fn first_improbable(from: u64, p: f64, lambda: f64) -> u64 {
    if upper_tail(from, lambda) < p {
        return from;
    }
    // Grow an upper bound, then bisect: the tail falls with k.
    let mut step = (lambda.sqrt().ceil() as u64).max(1);
    let (mut lo, mut hi) = (from, from.saturating_add(step));
    while upper_tail(hi, lambda) >= p {
        lo = hi;
        step = step.saturating_mul(2);
        hi = hi.saturating_add(step);
    }
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if upper_tail(mid, lambda) < p {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // (k, lambda, P(X >= k)) from the closed forms / reference tables.
        let table = [
            (0, 3.0, 1.0),
            (1, 3.0, 1.0 - (-3.0f64).exp()),
            (2, 1.0, 1.0 - 2.0 * (-1.0f64).exp()),
            (10, 3.0, 0.001_102_488_130_115_375_5),
            (20, 10.0, 0.003_454_341_975_856_700_7),
            (5, 10.0, 0.970_747_311_923_039),
        ];
        for (k, l, want) in table {
            let got = upper_tail(k, l);
            assert!(
                (got - want).abs() < 1e-9 * want.max(1e-3),
                "P(X>={k};{l}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut f = 1.0f64;
        for n in 1..30u32 {
            f *= n as f64;
            assert!((ln_gamma(n as f64 + 1.0) - f.ln()).abs() < 1e-10, "{n}");
        }
    }

    #[test]
    fn large_counts_stay_finite() {
        let p = upper_tail(2_000, 1_000.0);
        assert!(p > 0.0 && p < 1e-100, "{p}");
        let p = upper_tail(1_000, 1_000.0);
        assert!((0.45..0.55).contains(&p), "{p}");
    }

    proptest! {
        #[test]
        fn tail_is_a_probability_and_falls_with_k(k in 0u64..500, lambda in 0.0f64..400.0) {
            let p = upper_tail(k, lambda);
            let q = upper_tail(k + 1, lambda);
            prop_assert!((0.0..=1.0).contains(&p));
            prop_assert!(q <= p + 1e-12);
            // P(X >= k) - P(X >= k+1) = P(X = k).
            prop_assert!((p - q - pmf(k, lambda)).abs() < 1e-9);
        }

        #[test]
        fn quantile_is_the_first_count_reaching_p(p in 0.001f64..0.999, lambda in 0.0f64..400.0) {
            let q = quantile(p, lambda);
            let cdf = |k: u64| 1.0 - upper_tail(k + 1, lambda);
            prop_assert!(cdf(q) >= p - 1e-12);
            prop_assert!(q == 0 || cdf(q - 1) < p + 1e-12);
        }

        #[test]
        fn first_improbable_is_the_first_count_below_p(from in 0u64..200, lambda in 0.0f64..300.0) {
            let k = first_improbable(from, 1e-5, lambda);
            prop_assert!(k >= from);
            prop_assert!(upper_tail(k, lambda) < 1e-5);
            prop_assert!(k == from || upper_tail(k - 1, lambda) >= 1e-5);
        }

        #[test]
        fn tail_rises_with_lambda(k in 1u64..300, lambda in 0.1f64..300.0) {
            prop_assert!(upper_tail(k, lambda * 1.1) + 1e-12 >= upper_tail(k, lambda));
        }
    }
}
