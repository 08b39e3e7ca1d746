//! A plain-text table for a [`QueryOutput`], for tool results read by people and models.

use std::fmt::Write as _;

use serde_json::Value;

use crate::output::QueryOutput;

/// Columns never shrink below this many characters.
const MIN_COLUMN_WIDTH: usize = 3;
const SEPARATOR: &str = " | ";

/// Renders `output` as an aligned plain-text table whose lines aim to fit `max_width`
/// characters, followed by a row-count line.
///
/// Wide columns are cut with `…` until the table fits (never below three characters a
/// column, so very many columns can still exceed `max_width`). `NULL` marks SQL nulls;
/// newlines and tabs inside values are shown as `\n` and `\t`; numbers are right-aligned.
/// Widths count Unicode scalar values, so wide CJK characters can misalign.
pub fn render_table(output: &QueryOutput, max_width: usize) -> String {
    let mut text = String::new();
    if !output.columns.is_empty() {
        let header: Vec<String> = output.columns.iter().map(|c| escape(&c.name)).collect();
        let body: Vec<Vec<Cell>> = output
            .rows
            .iter()
            .map(|row| row.iter().map(Cell::new).collect())
            .collect();
        let widths = column_widths(&header, &body, max_width);

        let header_line: Vec<String> = header
            .iter()
            .zip(&widths)
            .map(|(name, &w)| pad(name, w, false))
            .collect();
        push_line(&mut text, &header_line.join(SEPARATOR));
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        push_line(&mut text, &rule.join("-+-"));
        for row in &body {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| pad(&cell.text, w, cell.numeric))
                .collect();
            push_line(&mut text, &line.join(SEPARATOR));
        }
    }
    let noun = if output.row_count == 1 { "row" } else { "rows" };
    let _ = write!(text, "({} {noun}", output.row_count);
    if output.truncated {
        text.push_str("; more rows exist, raise max_rows or add a LIMIT");
    }
    let _ = write!(text, ", {:.1} ms)", output.elapsed_ms);
    text
}

struct Cell {
    text: String,
    numeric: bool,
}

impl Cell {
    fn new(value: &Value) -> Self {
        let text = match value {
            Value::Null => "NULL".to_owned(),
            Value::String(s) => escape(s),
            other => other.to_string(),
        };
        Self {
            text,
            numeric: value.is_number(),
        }
    }
}

fn escape(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// Natural widths, then the largest common cap that makes the table fit.
fn column_widths(header: &[String], body: &[Vec<Cell>], max_width: usize) -> Vec<usize> {
    let mut natural: Vec<usize> = header.iter().map(|h| width(h).max(1)).collect();
    for row in body {
        for (w, cell) in natural.iter_mut().zip(row) {
            *w = (*w).max(width(&cell.text));
        }
    }
    let separators = SEPARATOR.len() * natural.len().saturating_sub(1);
    let total = |cap: usize| natural.iter().map(|&w| w.min(cap)).sum::<usize>() + separators;
    let widest = natural.iter().copied().max().unwrap_or(0);
    if total(widest) <= max_width {
        return natural;
    }
    // Binary search the largest cap that fits; fall back to the minimum width.
    let (mut lo, mut hi) = (MIN_COLUMN_WIDTH, widest);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if total(mid) <= max_width {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    natural.iter().map(|&w| w.min(lo)).collect()
}

fn pad(text: &str, width: usize, right_align: bool) -> String {
    let len = self::width(text);
    let cut: String;
    let (shown, len) = if len > width {
        cut = text
            .chars()
            .take(width.saturating_sub(1))
            .chain(std::iter::once('…'))
            .collect();
        (cut.as_str(), width)
    } else {
        (text, len)
    };
    let fill = " ".repeat(width - len);
    if right_align {
        format!("{fill}{shown}")
    } else {
        format!("{shown}{fill}")
    }
}

fn push_line(text: &mut String, line: &str) {
    text.push_str(line.trim_end());
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::output::Column;

    fn output(rows: Vec<Vec<Value>>, truncated: bool) -> QueryOutput {
        QueryOutput {
            columns: vec![
                Column {
                    name: "id".into(),
                    type_name: "INTEGER".into(),
                },
                Column {
                    name: "name".into(),
                    type_name: "TEXT".into(),
                },
            ],
            row_count: rows.len(),
            rows,
            truncated,
            elapsed_ms: 1.25,
        }
    }

    #[test]
    fn renders_an_aligned_table() {
        let out = output(
            vec![
                vec![json!(1), json!("Ada Lovelace")],
                vec![json!(100), Value::Null],
            ],
            false,
        );
        assert_eq!(
            render_table(&out, 80),
            "id  | name\n\
             ----+-------------\n  \
               1 | Ada Lovelace\n\
             100 | NULL\n\
             (2 rows, 1.2 ms)"
        );
    }

    #[test]
    fn shrinks_wide_columns_and_marks_truncation() {
        let out = output(
            vec![vec![json!(1), json!("line one\nline two is long")]],
            true,
        );
        let table = render_table(&out, 16);
        for line in table.lines().take(3) {
            assert!(width(line) <= 16, "{line:?}");
        }
        assert!(table.contains(" 1 | line one\\n…\n"), "{table}");
        assert!(table.ends_with("(1 row; more rows exist, raise max_rows or add a LIMIT, 1.2 ms)"));
    }

    #[test]
    fn empty_results_still_show_columns() {
        let table = render_table(&output(vec![], false), 80);
        assert!(table.starts_with("id | name\n"));
        assert!(table.ends_with("(0 rows, 1.2 ms)"));
    }
}
