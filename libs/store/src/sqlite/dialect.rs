//! SQLite's spelling of the query compiler's operations.

use crate::query::Dialect;

pub struct Sqlite;

/// A JSON path: `$."urn:…:User"."manager"."value"`; all-digit segments index arrays. Segments
/// come from the schema definitions, never from a request.
fn path_literal(path: &[&str]) -> String {
    let mut out = String::from("'$");
    for segment in path {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{segment}]"));
        } else {
            out.push_str(&format!(".\"{segment}\""));
        }
    }
    out.push('\'');
    out
}

impl Dialect for Sqlite {
    fn param(&self, n: usize) -> String {
        format!("?{n}")
    }
    fn fold(&self, expr: &str) -> String {
        format!("scim_fold({expr})")
    }
    fn uuid_text(&self, column: &str) -> String {
        column.to_owned()
    }
    fn json_text(&self, json: &str, path: &[&str]) -> String {
        format!("json_extract({json}, {})", path_literal(path))
    }
    fn json_value(&self, json: &str, path: &[&str]) -> String {
        // json_extract gives an object or array as its JSON text, which json_extract reads again.
        self.json_text(json, path)
    }
    fn json_is_bool(&self, json: &str, path: &[&str], value: bool) -> String {
        format!("(json_type({json}, {}) = '{value}')", path_literal(path))
    }
    fn json_number(&self, json: &str, path: &[&str]) -> String {
        let p = path_literal(path);
        format!("(CASE WHEN json_type({json}, {p}) IN ('integer', 'real') THEN json_extract({json}, {p}) END)")
    }
    fn json_elements(&self, json: &str, path: &[&str], alias: &str) -> (String, String) {
        let p = path_literal(path);
        (
            format!("json_each(CASE WHEN json_type({json}, {p}) = 'array' THEN json_extract({json}, {p}) ELSE '[]' END) AS {alias}"),
            format!("{alias}.value"),
        )
    }
    fn code_point_order(&self, expr: &str) -> String {
        // BINARY, SQLite's default collation, compares UTF-8 bytes: code point order already.
        expr.to_owned()
    }
    fn contains(&self, expr: &str, needle: &str) -> String {
        format!("(instr({expr}, {needle}) > 0)")
    }
    fn starts_with(&self, expr: &str, prefix: &str) -> String {
        format!("(substr({expr}, 1, length({prefix})) = {prefix})")
    }
    fn ends_with(&self, expr: &str, suffix: &str) -> String {
        // substr(x, -0) is all of x, so an empty suffix is its own case; a missing x is no match.
        format!("({expr} IS NOT NULL AND (length({suffix}) = 0 OR substr({expr}, -length({suffix})) = {suffix}))")
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::types::Value;
    use rusqlite::Connection;

    use super::*;

    const USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    #[test]
    fn renders_as_specified() {
        let d = Sqlite;
        assert_eq!(d.param(3), "?3");
        assert_eq!(d.fold("r.x"), "scim_fold(r.x)");
        assert_eq!(d.uuid_text("r.id"), "r.id");
        assert_eq!(d.json_text("r.document", &["emails", "0", "value"]), r#"json_extract(r.document, '$."emails"[0]."value"')"#);
        assert_eq!(
            d.json_text("r.document", &[USER, "manager", "value"]),
            format!(r#"json_extract(r.document, '$."{USER}"."manager"."value"')"#)
        );
        assert_eq!(d.json_is_bool("e1.value", &["primary"], true), r#"(json_type(e1.value, '$."primary"') = 'true')"#);
        assert_eq!(d.json_is_bool("r.document", &["x"], false), r#"(json_type(r.document, '$."x"') = 'false')"#);
        assert_eq!(
            d.json_number("r.document", &["n"]),
            r#"(CASE WHEN json_type(r.document, '$."n"') IN ('integer', 'real') THEN json_extract(r.document, '$."n"') END)"#
        );
        assert_eq!(
            d.json_elements("r.document", &["emails"], "e1"),
            (
                r#"json_each(CASE WHEN json_type(r.document, '$."emails"') = 'array' THEN json_extract(r.document, '$."emails"') ELSE '[]' END) AS e1"#.to_owned(),
                "e1.value".to_owned()
            )
        );
        assert_eq!(d.contains("x", "?2"), "(instr(x, ?2) > 0)");
        assert_eq!(d.starts_with("x", "?2"), "(substr(x, 1, length(?2)) = ?2)");
        assert_eq!(d.ends_with("x", "?2"), "(x IS NOT NULL AND (length(?2) = 0 OR substr(x, -length(?2)) = ?2))");
    }

    /// Evaluates `expr` over one row `r` whose `document` is `document`, with `params` bound.
    fn eval(document: &str, expr: &str, params: &[&str]) -> Vec<Value> {
        let db = Connection::open_in_memory().unwrap();
        db.execute_batch("CREATE TABLE t (document TEXT)").unwrap();
        db.execute("INSERT INTO t VALUES (?1)", [document]).unwrap();
        let mut stmt = db.prepare(&format!("SELECT {expr} FROM t r")).unwrap();
        stmt.query_map(rusqlite::params_from_iter(params), |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn one(document: &str, expr: &str) -> Value {
        let mut values = eval(document, expr, &[]);
        assert_eq!(values.len(), 1, "{expr}");
        values.remove(0)
    }

    #[test]
    fn reads_json_as_postgres_does() {
        let d = Sqlite;
        let doc = format!(
            r#"{{"title": "Guide", "emails": [{{"value": "a@x", "primary": true}}, {{"value": "b@y"}}], "{USER}": {{"n": 3.5, "flag": false}}, "s": "x"}}"#
        );
        assert_eq!(one(&doc, &d.json_text("r.document", &["emails", "1", "value"])), Value::Text("b@y".into()));
        assert_eq!(one(&doc, &d.json_text("r.document", &["title"])), Value::Text("Guide".into()));
        assert_eq!(one(&doc, &d.json_text("r.document", &["missing"])), Value::Null);
        assert_eq!(one(&doc, &d.json_is_bool("r.document", &[USER, "flag"], false)), Value::Integer(1));
        assert_eq!(one(&doc, &d.json_is_bool("r.document", &[USER, "flag"], true)), Value::Integer(0));
        assert_eq!(one(&doc, &d.json_is_bool("r.document", &["missing"], true)), Value::Null);
        assert_eq!(one(&doc, &d.json_number("r.document", &[USER, "n"])), Value::Real(3.5));
        assert_eq!(one(&doc, &d.json_number("r.document", &["title"])), Value::Null);
    }

    #[test]
    fn elements_of_arrays_are_objects_that_paths_reach_into() {
        let d = Sqlite;
        let doc = r#"{"emails": [{"value": "a@x", "primary": true}, {"value": "b@y"}], "title": "not an array"}"#;
        let elements = |path: &[&str], pick: &dyn Fn(&str) -> String| {
            let (from, element) = d.json_elements("r.document", path, "e1");
            let sql = format!("(SELECT group_concat({}, ',') FROM {from})", pick(&element));
            one(doc, &sql)
        };
        let value = |element: &str| d.json_text(element, &["value"]);
        assert_eq!(elements(&["emails"], &value), Value::Text("a@x,b@y".into()));
        let primary = |element: &str| format!("CASE WHEN {} THEN {} END", d.json_is_bool(element, &["primary"], true), value(element));
        assert_eq!(elements(&["emails"], &primary), Value::Text("a@x".into()));
        assert_eq!(elements(&["title"], &value), Value::Null, "a non-array has no elements");
        assert_eq!(elements(&["missing"], &value), Value::Null, "an absent attribute has no elements");
    }

    #[test]
    fn text_operators_match_postgres_including_the_empty_string() {
        let d = Sqlite;
        let cases = [
            (d.contains("'hello'", "?1"), "ell", 1),
            (d.contains("'hello'", "?1"), "", 1),
            (d.contains("'hello'", "?1"), "xyz", 0),
            (d.starts_with("'ärger'", "?1"), "är", 1),
            (d.starts_with("'hello'", "?1"), "", 1),
            (d.starts_with("'hello'", "?1"), "ello", 0),
            (d.ends_with("'hello'", "?1"), "llo", 1),
            (d.ends_with("'hello'", "?1"), "", 1),
            (d.ends_with("'hello'", "?1"), "hel", 0),
            (d.ends_with("'lo'", "?1"), "hello", 0),
        ];
        for (expr, param, expected) in cases {
            assert_eq!(eval("{}", &expr, &[param]), vec![Value::Integer(expected)], "{expr} with {param:?}");
        }
    }
}
