//! Reading the relay's metrics (the Prometheus text format of `/metrics`).

/// The value of `name` summed over its label sets; `None` when it is absent.
pub fn sample_sum(text: &str, name: &str) -> Option<f64> {
    let mut total = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        let value: f64 = rest.rsplit(' ').next()?.parse().ok()?;
        *total.get_or_insert(0.0) += value;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::sample_sum;

    #[test]
    fn samples_are_summed_over_labels() {
        let text = "# HELP a_total A.\na_total{x=\"1\"} 2\na_total{x=\"2\"} 3\nab_total 7\nb 1.5\n";
        assert_eq!(sample_sum(text, "a_total"), Some(5.0));
        assert_eq!(sample_sum(text, "b"), Some(1.5));
        assert_eq!(sample_sum(text, "c"), None);
    }
}
