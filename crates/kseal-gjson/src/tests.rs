//! Lookups checked against what Go's gjson v1.18 returns for them.

use crate::{Limits, get, get_with};

const DOC: &str = r#"{
  "name": {"first": "Tom", "last": "Anderson"},
  "age": 37, "ratio": 1.50, "exp": 1e3,
  "children": ["Sara", "Alex", "Jack"],
  "fav.movie": "Deer Hunter",
  "friends": [
    {"first": "Dale", "last": "Murphy", "age": 44, "nets": ["ig", "fb", "tw"]},
    {"first": "Roger", "last": "Craig", "age": 68, "nets": ["fb", "tw"]},
    {"first": "Jane", "last": "Murphy", "age": 47, "nets": ["ig", "tw"]}
  ]
}"#;

fn text(json: &str, path: &str) -> Option<String> {
    let v = get(json.as_bytes(), path);
    v.exists()
        .then(|| String::from_utf8_lossy(&v.text()).into_owned())
}

fn t(path: &str) -> Option<String> {
    text(DOC, path)
}

fn some(s: &str) -> Option<String> {
    Some(s.to_owned())
}

#[test]
fn keys_indexes_and_escapes() {
    assert_eq!(t("name.last"), some("Anderson"));
    assert_eq!(t("age"), some("37"));
    assert_eq!(t("ratio"), some("1.5"));
    assert_eq!(t("exp"), some("1000"));
    assert_eq!(t("children.1"), some("Alex"));
    assert_eq!(t("children.#"), some("3"));
    assert_eq!(t("child*.2"), some("Jack"));
    assert_eq!(t("c?ildren.0"), some("Sara"));
    assert_eq!(t(r"fav\.movie"), some("Deer Hunter"));
    assert_eq!(t("fav.movie"), None);
    assert_eq!(t("children.3"), None);
    assert_eq!(t("missing"), None);
}

#[test]
fn projections_and_queries() {
    assert_eq!(t("friends.#.first"), some(r#"["Dale","Roger","Jane"]"#));
    assert_eq!(t(r#"friends.#(last=="Murphy").first"#), some("Dale"));
    assert_eq!(
        t(r#"friends.#(last=="Murphy")#.first"#),
        some(r#"["Dale","Jane"]"#)
    );
    assert_eq!(t("friends.#(age>45)#.last"), some(r#"["Craig","Murphy"]"#));
    assert_eq!(t(r#"friends.#(first%"D*").last"#), some("Murphy"));
    assert_eq!(t(r#"friends.#(first!%"D*").last"#), some("Craig"));
    assert_eq!(
        t(r#"friends.#(nets.#(=="fb"))#.first"#),
        some(r#"["Dale","Roger"]"#)
    );
    assert_eq!(t(r#"friends.#(last=="Nobody")#.first"#), some("[]"));
    assert_eq!(t(r#"friends.#(last=="Nobody").first"#), None);
    assert_eq!(
        t(r#"friends.#(last=="Murphy")#.first|@reverse"#),
        some(r#"["Jane","Dale"]"#)
    );
}

#[test]
fn modifiers_pipes_and_multipaths() {
    assert_eq!(t("children|@reverse"), some(r#"["Jack","Alex","Sara"]"#));
    assert_eq!(t("children.@reverse.0"), some("Jack"));
    assert_eq!(t("name|@keys"), some(r#"["first","last"]"#));
    assert_eq!(t("name|@values"), some(r#"["Tom","Anderson"]"#));
    assert_eq!(t("children|@tostr"), some(r#"["Sara", "Alex", "Jack"]"#));
    assert_eq!(
        t("name|@ugly"),
        some(r#"{"first":"Tom","last":"Anderson"}"#)
    );
    assert_eq!(
        t("name|@pretty"),
        some("{\n  \"first\": \"Tom\",\n  \"last\": \"Anderson\"\n}\n")
    );
    assert_eq!(t("friends|@dig:first"), some(r#"["Dale","Roger","Jane"]"#));
    assert_eq!(t("[age,missing,name.first]"), some(r#"[37,"Tom"]"#));
    assert_eq!(
        t(r#"{age,"n":name.first}"#),
        some(r#"{"age":37,"n":"Tom"}"#)
    );
    assert_eq!(t("!true"), some("true"));
    assert_eq!(t(r#"!"lit""#), some("lit"));
    assert_eq!(t("@unknown"), None);
    assert_eq!(text(r#"{"a":"{\"b\":2}"}"#, "a|@fromstr|b"), some("2"));
    assert_eq!(
        text(r#"{"a":[1,[2,[3]]]}"#, r#"a|@flatten:{"deep":true}"#),
        some("[1,2,3]")
    );
    assert_eq!(
        text(r#"[{"a":1},{"a":2,"b":3}]"#, "@join"),
        some(r#"{"a":2,"b":3}"#)
    );
    assert_eq!(
        text(r#"{"a":[1,2],"b":[3,4]}"#, "@group"),
        some(r#"[{"a":1,"b":3},{"a":2,"b":4}]"#)
    );
    // After a multipath that is not followed by a pipe or dot, gjson goes on with the rest;
    // after one that does not close, with nothing (the empty key).
    assert_eq!(text(r#"{"a":1,"b":2}"#, "[a]b"), some("2"));
    assert_eq!(text(r#"{"":"e","a":1}"#, "[a,b"), some("e"));
    // A modifier on nothing can still produce something.
    assert_eq!(t("missing|@keys"), some("[]"));
}

#[test]
fn lenient_reading() {
    assert_eq!(text(r#"{"a": 1, }"#, "a"), some("1"));
    assert_eq!(text("{'a': 1}", "a"), None);
    assert_eq!(text("not json", "a"), None);
    assert_eq!(text(r#"{"a": [1, 2"#, "a.#"), some("2"));
    assert_eq!(text("{\"a\":1}\n{\"a\":2}", "..#.a"), some("[1,2]"));
    assert_eq!(text(r#"{"a":"x\u00e9\ud83d\ude00"}"#, "a"), some("xé😀"));
    assert_eq!(
        text(
            r#"{"a":1.0,"b":-0,"c":1E+2,"d":0x10,"e":NaN}"#,
            "[a,b,c,d,e]"
        ),
        some("[1.0,-0,1E+2,0x10,NaN]")
    );
    assert_eq!(text(r#"{"a":0x10}"#, "a"), some("0"));
    assert_eq!(text(r#"{"a":1.5e300}"#, "a").map(|s| s.len()), Some(301));
}

#[test]
fn limits_bound_the_work() {
    let deep = "[".repeat(1000) + &"]".repeat(1000);
    assert!(get_with(deep.as_bytes(), "@pretty", Limits::default()).is_err());
    let wide = format!("[{}1]", "1,".repeat(100_000));
    let small = Limits {
        work: 10_000,
        depth: 128,
    };
    assert!(get_with(wide.as_bytes(), "#", small).is_err());
    assert_eq!(
        get_with(wide.as_bytes(), "#", Limits::default()).map(|v| v.text()),
        Ok(b"100001".to_vec())
    );
}

mod never_panics {
    use proptest::prelude::*;

    use crate::{Limits, get_with};

    /// Bytes that steer gjson's scanners: brackets, quotes, escapes, separators, operators.
    fn soup(max: usize) -> impl Strategy<Value = Vec<u8>> {
        let alphabet: &[u8] = b"{}[]()\"\\:,.|#@!*?%=<>~ atfnu01-+eE\t\n\xc3\xa9\xff";
        proptest::collection::vec(proptest::sample::select(alphabet.to_vec()), 0..max)
    }

    fn paths() -> impl Strategy<Value = String> {
        let parts = proptest::sample::select(vec![
            "a",
            "b",
            "0",
            "1",
            "#",
            "*",
            "?",
            ".",
            "|",
            "\\",
            "#(",
            ")",
            "#(a==1)",
            "#(a>0)#",
            "#(=~true)",
            "[",
            "]",
            "{",
            "}",
            ",",
            ":",
            "\"",
            "!true",
            "!\"x\"",
            "!1",
            "@this",
            "@reverse",
            "@pretty",
            "@pretty:{\"sortKeys\":true,\"width\":3}",
            "@ugly",
            "@keys",
            "@values",
            "@flatten:{\"deep\":true}",
            "@join",
            "@tostr",
            "@fromstr",
            "@group",
            "@dig:a",
            "@valid",
            "..",
            "%\"a*\"",
        ]);
        proptest::collection::vec(parts, 0..8).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn any_input_any_path(json in soup(64), path in paths()) {
            let limits = Limits { work: 1 << 20, depth: 32 };
            if let Ok(v) = get_with(&json, &path, limits) {
                let _ = v.text();
            }
        }

        #[test]
        fn well_formed_documents(path in paths()) {
            let json = br#"{"a":[{"a":1,"b":"x"},{"a":[2,3]}],"b":{"a":"{\"a\":1}"},"1":null}"#;
            let _ = get_with(json, &path, Limits::default());
        }
    }
}

#[test]
fn the_deepest_allowed_lookups_fit_a_small_thread_stack() {
    // 2 MiB, a tokio worker's default: recursion at the nesting bound must not overflow it.
    let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(|| {
        let nested = "{\"a\":".repeat(60) + "1" + &"}".repeat(60);
        let path = vec!["a"; 60].join(".");
        assert_eq!(get(nested.as_bytes(), &path).text(), b"1");
        let arrays = "[".repeat(120) + &"]".repeat(120);
        assert!(get(arrays.as_bytes(), "@pretty").exists());
        let stars = "*".to_owned() + &"a*".repeat(120);
        let subject = format!("{{\"{}\":1}}", "a".repeat(200));
        let _ = get_with(subject.as_bytes(), &stars, Limits::default());
        let query = "#(".repeat(60) + &")".repeat(60);
        let _ = get_with(arrays.as_bytes(), &query, Limits::default());
    });
    assert!(worker.expect("spawn").join().is_ok());
}

#[test]
fn output_that_outgrows_its_input_is_paid_for_before_it_is_built() {
    let small = Limits {
        work: 1 << 20,
        depth: 128,
    };
    // @group repeats each key once per item.
    let key = "k".repeat(20_000);
    let group = format!("{{\"{key}\":[{}1]}}", "1,".repeat(2_000));
    assert!(get_with(group.as_bytes(), "@group", small).is_err());
    // @pretty repeats its indent on every line.
    let indent = " ".repeat(10_000);
    let path = format!("@pretty:{{\"indent\":\"{indent}\"}}");
    let list = format!("[{}1]", "[1],".repeat(200));
    assert!(get_with(list.as_bytes(), &path, small).is_err());
    // The same lookups on small inputs work.
    assert_eq!(
        text(r#"{"a":[1,2],"b":[3]}"#, "@group"),
        some(r#"[{"a":1,"b":3},{"a":2}]"#)
    );
}
