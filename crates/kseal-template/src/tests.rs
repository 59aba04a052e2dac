//! Rendering tests through the public API.

use std::collections::BTreeMap;

use super::*;

const SECRET: &str = "s3cr3t-P@ss";

fn values() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        (
            "database_url".to_string(),
            b"postgres://db:5432/app".to_vec(),
        ),
        ("jwt_secret".to_string(), SECRET.as_bytes().to_vec()),
        ("my-key".to_string(), b"dashed".to_vec()),
        ("user".to_string(), b"admin".to_vec()),
        ("empty".to_string(), Vec::new()),
        ("padded".to_string(), b"  hi there \n".to_vec()),
        ("csv".to_string(), b"a,b,c".to_vec()),
        (
            "json".to_string(),
            br#"{"host":"db","port":5432,"tags":["x","y"]}"#.to_vec(),
        ),
        ("bin".to_string(), vec![0xff, 0x00, 0xfe]),
    ])
}

fn ok(template: &str) -> String {
    let out = render("T", template, &values()).unwrap_or_else(|e| panic!("{template}: {e}"));
    String::from_utf8(out).unwrap()
}

fn err(template: &str) -> Error {
    let e = render("T", template, &values()).expect_err(template);
    assert!(
        !e.to_string().contains(SECRET),
        "error echoes a secret: {e}"
    );
    e
}

#[test]
fn seed_template() {
    assert_eq!(
        ok(r#"DATABASE_URL: "{{ .database_url }}""#),
        r#"DATABASE_URL: "postgres://db:5432/app""#
    );
}

#[test]
fn plain_key_and_text() {
    assert_eq!(ok("{{ .user }}"), "admin");
    assert_eq!(ok("user={{.user}};"), "user=admin;");
    assert_eq!(ok("no actions"), "no actions");
    assert_eq!(ok(""), "");
}

#[test]
fn index_with_dashed_key() {
    assert_eq!(ok(r#"{{ index . "my-key" }}"#), "dashed");
    assert_eq!(ok(r#"{{ index (list "a" "b") 1 }}"#), "b");
    assert_eq!(ok(r#"{{ index (dict "a" (dict "b" "c")) "a" "b" }}"#), "c");
}

#[test]
fn pipelines() {
    assert_eq!(ok("{{ .user | b64enc | quote }}"), r#""YWRtaW4=""#);
    assert_eq!(ok("{{ .user | upper | printf \"%s!\" }}"), "ADMIN!");
    assert_eq!(ok("{{ (.user | upper) }}-{{ len .user }}"), "ADMIN-5");
}

#[test]
fn control_structures() {
    assert_eq!(ok("{{ if .user }}yes{{ else }}no{{ end }}"), "yes");
    assert_eq!(
        ok("{{ if .empty }}yes{{ else if .user }}second{{ else }}no{{ end }}"),
        "second"
    );
    assert_eq!(ok("{{ with .user }}<{{ . }}>{{ end }}"), "<admin>");
    assert_eq!(ok("{{ with .empty }}x{{ else }}none{{ end }}"), "none");
    assert_eq!(
        ok(r#"{{ range splitList "," .csv }}[{{ . }}]{{ end }}"#),
        "[a][b][c]"
    );
    assert_eq!(
        ok(r#"{{ range $i, $v := splitList "," .csv }}{{ $i }}={{ $v }} {{ end }}"#),
        "0=a 1=b 2=c "
    );
    assert_eq!(
        ok(r#"{{ range $k, $v := dict "b" 2 "a" 1 }}{{ $k }}{{ $v }}{{ end }}"#),
        "a1b2"
    );
    assert_eq!(ok("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(ok("{{ range list }}x{{ else }}empty{{ end }}"), "empty");
    assert_eq!(
        ok(
            "{{ range 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}"
        ),
        "02"
    );
    assert_eq!(
        ok("a  {{- /* comment */ -}}  b\n{{- .user -}}\n"),
        "abadmin"
    );
}

#[test]
fn variables() {
    assert_eq!(
        ok("{{ $u := .user }}{{ $u }}{{ $u = \"x\" }}{{ $u }}"),
        "adminx"
    );
    assert_eq!(
        ok("{{ $n := 0 }}{{ range 4 }}{{ $n = . }}{{ end }}{{ $n }}"),
        "3"
    );
    assert_eq!(
        ok("{{ with .user }}{{ $.database_url }}{{ end }}"),
        "postgres://db:5432/app"
    );
    assert_eq!(
        ok("{{ $cfg := fromJson .json }}{{ $cfg.host }}:{{ $cfg.port }}"),
        "db:5432"
    );
}

#[test]
fn comparisons_and_logic() {
    assert_eq!(
        ok(r#"{{ eq .user "admin" }} {{ ne .user "admin" }} {{ eq .user "x" "admin" }}"#),
        "true false true"
    );
    assert_eq!(
        ok("{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 2 3 }} {{ lt \"a\" \"b\" }}"),
        "true true false false true"
    );
    assert_eq!(
        ok("{{ and .user .empty }}|{{ or .empty .user }}|{{ not .user }}"),
        "|admin|false"
    );
    assert_eq!(ok("{{ len .user }} {{ len (list 1 2) }}"), "5 2");
    // `and` short-circuits: the failing lookup is never evaluated.
    assert_eq!(ok("{{ and .empty .nope }}"), "");
    assert_eq!(err("{{ lt (list) 1 }}").reason(), "function");
}

#[test]
fn encoding_helpers() {
    assert_eq!(ok("{{ .user | b64enc }}"), "YWRtaW4=");
    assert_eq!(ok(r#"{{ "YWRtaW4=" | b64dec }}"#), "admin");
    assert_eq!(
        ok("{{ .user | sha256sum }}"),
        "8c6976e5b5410415bde908bd4dee15dfb167a9c873fc4bb8a81f6f2ab448a918"
    );
    assert_eq!(ok(r#"{{ "a b&c" | urlquery }}"#), "a+b%26c");
    assert_eq!(
        ok(r#"{{ dict "k" "<v>" "n" 1 | toJson }}"#),
        r#"{"k":"\u003cv\u003e","n":1}"#
    );
    assert_eq!(
        ok(r#"{{ (fromJson .json).tags | toJson }}"#),
        r#"["x","y"]"#
    );
    assert_eq!(
        ok(r#"{{ (fromJson "[1,2.5,null,true]") }}"#),
        "[1 2.5 <nil> true]"
    );
    assert_eq!(ok(r#"{{ dict "a" "b" | toYaml }}"#), "a: b");
    assert_eq!(
        ok(r#"{{ (fromYaml "a: 1\nb: [x, z]").b | join "," }}"#),
        "x,z"
    );
}

#[test]
fn string_helpers() {
    assert_eq!(
        ok("{{ .user | quote }} {{ .user | squote }}"),
        r#""admin" 'admin'"#
    );
    assert_eq!(ok(r#"{{ quote "a\"b" 1 }}"#), r#""a\"b" "1""#);
    assert_eq!(
        ok("{{ .user | upper }} {{ \"ABC\" | lower }} {{ \"hello world\" | title }}"),
        "ADMIN abc Hello World"
    );
    assert_eq!(ok("[{{ .padded | trim }}]"), "[hi there]");
    assert_eq!(
        ok(
            r#"{{ trimAll "$" "$5.00$" }} {{ trimPrefix "post" .database_url }} {{ trimSuffix "/app" .database_url }}"#
        ),
        "5.00 gres://db:5432/app postgres://db:5432"
    );
    assert_eq!(
        ok(r#"{{ .database_url | replace "postgres" "pg" }}"#),
        "pg://db:5432/app"
    );
    assert_eq!(
        ok(
            r#"{{ contains "db" .database_url }} {{ hasPrefix "postgres" .database_url }} {{ hasSuffix "x" .database_url }}"#
        ),
        "true true false"
    );
    assert_eq!(
        ok(r#"{{ $p := split "," .csv }}{{ $p._0 }}{{ $p._2 }}"#),
        "ac"
    );
    assert_eq!(ok(r#"{{ splitList "," .csv | join "+" }}"#), "a+b+c");
    assert_eq!(ok(r#"{{ list 1 "a" nil true | join "-" }}"#), "1-a-true");
    assert_eq!(
        ok(r#"{{ "a\nb" | indent 2 }}|{{ "a\nb" | nindent 2 }}"#),
        "  a\n  b|\n  a\n  b"
    );
    assert_eq!(
        ok(r#"{{ trunc 3 "abcdef" }} {{ trunc -2 "abcdef" }} {{ trunc 10 "ab" }}"#),
        "abc ef ab"
    );
    assert_eq!(
        ok(r#"{{ repeat 3 "ab" }} {{ " a b  c " | nospace }}"#),
        "ababab abc"
    );
    assert_eq!(
        ok(r#"{{ toString 42 }} {{ 1.5 | toString }} {{ cat "a" nil 2 }}"#),
        "42 1.5 a 2"
    );
    assert_eq!(
        ok(r#"{{ printf "%s:%d/%q" .user 5432 "x" }}"#),
        r#"admin:5432/"x""#
    );
    assert_eq!(
        ok(r#"{{ print "a" 1 2 "b" }}|{{ println "a" 1 }}"#),
        "a1 2b|a 1\n"
    );
}

#[test]
fn value_helpers() {
    assert_eq!(
        ok(r#"{{ .empty | default "fallback" }} {{ .user | default "fallback" }}"#),
        "fallback admin"
    );
    assert_eq!(
        ok(r#"{{ empty .empty }} {{ empty .user }} {{ empty 0 }} {{ empty (list) }}"#),
        "true false true true"
    );
    assert_eq!(ok(r#"{{ coalesce .empty "" .user "z" }}"#), "admin");
    assert_eq!(
        ok(r#"{{ ternary "on" "off" (eq .user "admin") }} {{ false | ternary "on" "off" }}"#),
        "on off"
    );
    assert_eq!(ok(r#"{{ list 1 "a" (list 2) }}"#), "[1 a [2]]");
    assert_eq!(
        ok(r#"{{ $d := dict "a" 1 "b" }}{{ get $d "a" }}[{{ get $d "b" }}][{{ get $d "zz" }}]"#),
        "1[][]"
    );
    assert_eq!(
        ok(r#"{{ hasKey . "user" }} {{ hasKey . "nope" }}"#),
        "true false"
    );
    assert_eq!(
        ok(
            r#"{{ if hasKey . "nope" }}{{ .nope }}{{ else }}{{ get . "nope" | default "d" }}{{ end }}"#
        ),
        "d"
    );
}

#[test]
fn missing_key_is_an_error_naming_the_key() {
    for template in [
        "{{ .nope }}",
        "{{ .nope | default \"x\" }}",
        "{{ $c := fromJson .json }}{{ $c.nope }}",
    ] {
        let e = err(template);
        assert_eq!(e.reason(), "missing_key", "{template}");
        assert!(e.to_string().contains(r#"missing key "nope""#), "{e}");
        assert!(e.to_string().contains(r#"template "T""#), "{e}");
    }
}

#[test]
fn parse_error_names_the_template() {
    let e = render("DATABASE_URL", "{{ .user ", &values()).unwrap_err();
    assert_eq!(e.reason(), "parse");
    assert_eq!(e.template(), "DATABASE_URL");
    assert!(
        e.to_string()
            .starts_with(r#"template "DATABASE_URL": line 1:"#),
        "{e}"
    );
    for bad in [
        "{{ if .user }}",
        "{{ end }}",
        "{{ env \"HOME\" }}",
        "{{ .user | | upper }}",
        "{{ define \"x\" }}",
        "{{ if true }}{{ define \"x\" }}{{ end }}{{ end }}",
        "{{ $x }}",
    ] {
        assert_eq!(err(bad).reason(), "parse", "{bad}");
    }
    assert!(validate("T", "{{ .a | upper }}").is_ok());
    assert!(
        validate("T", "{{ expandenv .a }}")
            .unwrap_err()
            .to_string()
            .contains("\"expandenv\" not defined")
    );
    let e = err("line1\n{{ .user }}\n{{ .nope }}");
    assert!(e.to_string().contains("line 3"), "{e}");
}

#[test]
fn failing_function_does_not_echo_input() {
    let vals = BTreeMap::from([("garbage".to_string(), format!("{SECRET}: [!!").into_bytes())]);
    for template in [
        "{{ .garbage | b64dec }}",
        "{{ .garbage | fromJson }}",
        "{{ .garbage | fromYaml }}",
    ] {
        let e = render("T", template, &vals).expect_err(template);
        assert!(!e.to_string().contains(SECRET), "{template}: {e}");
        assert_eq!(e.reason(), "function", "{template}: {e}");
    }
    let e = render("T", "{{ .garbage | b64dec }}", &vals).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"template "T": line 1: function b64dec: input is not valid base64 (standard alphabet, with padding)"#
    );
    let e = err(r#"{{ "x" | replace "a" }}"#);
    assert!(
        e.to_string()
            .contains("function replace: wrong number of arguments"),
        "{e}"
    );
}

#[test]
fn non_utf8_values_pass_through_but_are_not_text() {
    let raw = render("T", "<{{ .bin }}>", &values()).unwrap();
    assert_eq!(raw, b"<\xff\x00\xfe>");
    assert_eq!(ok("{{ .bin | b64enc }}"), "/wD+");
    assert_eq!(
        ok("{{ .bin | quote }} {{ len .bin }}"),
        r#""\xff\x00\xfe" 3"#
    );
    assert_eq!(ok("{{ .bin | sha256sum | trunc 8 }}"), "af9ceddc");
    assert_eq!(
        render("T", r#"{{ "/wD+" | b64dec }}"#, &values()).unwrap(),
        b"\xff\x00\xfe"
    );
    // Functions Go writes rune by rune read each invalid byte as U+FFFD, as Go does.
    assert_eq!(ok("{{ .bin | upper }}"), "\u{FFFD}\0\u{FFFD}");
    assert_eq!(ok("{{ .bin | toJson }}"), r#""\ufffd\u0000\ufffd""#);
    // Those Go runs on the bytes keep them, as Go does.
    assert_eq!(
        render("T", "{{ .bin | toString | trim }}", &values()).unwrap(),
        b"\xff\x00\xfe"
    );
    // Go's byte-wise string functions keep the bytes where they are, as Go does.
    assert_eq!(
        render("T", "{{ .bin | indent 2 }}", &values()).unwrap(),
        b"  \xff\x00\xfe"
    );
    assert_eq!(
        render(
            "T",
            r#"{{ "/wD+" | b64dec | splitList "\x00" | last }}"#,
            &values()
        )
        .unwrap(),
        b"\xfe"
    );
    // Decoders refuse binary data rather than write a decoder's error into the Secret.
    for template in ["{{ .bin | b64dec }}", "{{ .bin | fromJson }}"] {
        let e = err(template);
        assert_eq!(e.reason(), "non_utf8", "{template}");
        assert!(e.to_string().contains("binary value, not text"), "{e}");
    }
    assert!(
        err("{{ .bin | b64dec }}")
            .to_string()
            .contains(r#"key "bin""#)
    );
}

#[test]
fn string_literals_may_hold_bytes_that_are_not_utf8() {
    // Go's `\x` and octal escapes make any byte; such a literal is a binary string like a binary value.
    assert_eq!(
        render("T", r#"{{ "a\xffb" }}|{{ "\377" | len }}"#, &values()).unwrap(),
        b"a\xffb|1"
    );
    assert_eq!(ok(r#"{{ "x\xffy" | upper }}"#), "X\u{FFFD}Y");
    assert_eq!(ok(r#"{{ "\xff\xfe" | b64enc }}"#), "//4=");
}

#[test]
fn render_map_is_all_or_nothing() {
    let templates = BTreeMap::from([
        (
            "DATABASE_URL".to_string(),
            "{{ .database_url }}".to_string(),
        ),
        ("JWT".to_string(), "{{ .jwt_secret | b64enc }}".to_string()),
    ]);
    let out = render_map(&templates, &values()).unwrap();
    assert_eq!(out["DATABASE_URL"], b"postgres://db:5432/app");
    assert_eq!(out["JWT"], b"czNjcjN0LVBAc3M=");

    let mut bad = templates.clone();
    bad.insert("ZZZ".to_string(), "{{ .missing }}".to_string());
    let e = render_map(&bad, &values()).unwrap_err();
    assert_eq!(e.template(), "ZZZ");
    assert_eq!(e.reason(), "missing_key");
    assert!(render_map(&BTreeMap::new(), &values()).unwrap().is_empty());
}

#[test]
fn type_errors_are_reported() {
    assert_eq!(err("{{ .user.x }}").reason(), "exec");
    assert_eq!(err("{{ .user 1 }}").reason(), "exec");
    assert_eq!(err("{{ range .user }}{{ end }}").reason(), "exec");
    assert_eq!(err("{{ 5 | upper }}").reason(), "function");
    assert_eq!(err(r#"{{ ternary "a" "b" "yes" }}"#).reason(), "function");
    assert_eq!(err(r#"{{ index (list 1) 3 }}"#).reason(), "function");
}

#[test]
fn limits_stop_runaway_templates() {
    assert_eq!(err(r#"{{ repeat 100000000 "ab" }}"#).reason(), "limit");
    assert_eq!(err("{{ range 100000000 }}{{ end }}").reason(), "limit");
    assert_eq!(
        err(r#"{{ $x := list 1 }}{{ range 40 }}{{ $x = list $x $x }}{{ end }}"#).reason(),
        "limit"
    );
    assert_eq!(
        err(r#"{{ range 2000 }}{{ repeat 1000 "x" }}{{ end }}"#).reason(),
        "limit"
    );
    // As in Go, a width past a million is no width: the directive is reported in the output.
    assert_eq!(
        ok(r#"{{ printf "%99999999d" 1 }}"#),
        "%!(NOVERB)%!(EXTRA int=1)"
    );
}

#[test]
fn every_prefix_of_a_template_renders_or_errors() {
    let template = r#"{{- $c := fromJson .json -}}{{ range $i, $t := $c.tags }}{{ if gt $i 0 }},{{ end }}{{ $t | upper | printf "%-3s|%q" $t }}{{ else }}none{{ end }}{{ with index . "my-key" }}{{ . | b64enc | quote }}{{ end }}{{/* c */}}{{ 'x' }} {{ 0x1F }} {{ -1.5e3 }} `raw`"#;
    for (i, _) in template.char_indices() {
        let _ = render("T", &template[..i], &values());
    }
    assert_eq!(
        ok(template),
        r#"x  |"X",y  |"Y""ZGFzaGVk"120 31 -1500 `raw`"#
    );
}

#[test]
fn yaml_output_shape() {
    assert_eq!(
        ok(r#"{{ fromJson .json | toYaml }}"#),
        "host: db\nport: 5432\ntags:\n- x\n- \"y\""
    );
    assert_eq!(
        ok(r#"{{ with .empty }}a{{ else with .user }}{{ . }}{{ end }}"#),
        "admin"
    );
    assert_eq!(
        err(r#"{{ if .empty }}a{{ else with .user }}{{ . }}{{ end }}"#).reason(),
        "parse"
    );
}

#[test]
fn random_templates_never_panic() {
    const PIECES: &[&str] = &[
        "{{", "}}", "{{- ", " -}}", " ", ".", ".user", ".bin", "$", "$x", ":=", "=", "|", "(", ")",
        ",", "\"", "`", "'", "if", "else", "end", "range", "with", "break", "index", "printf",
        "\"%d\"", "1", "-2.5", "nil", "list", "dict", "toJson", "fromJson", "b64dec", "/*", "*/",
        "\\", "\n", "é", "0x", "e9",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        let mut template = String::new();
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        for _ in 0..(seed >> 60) + 1 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            template.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
        }
        let _ = render("T", &template, &values());
    }
}

#[test]
fn index_gives_the_zero_value_for_a_missing_key_like_go() {
    // Go's `index` ignores `missingkey=error`: a key the data lacks gives the empty string (the zero
    // value of its string map), one a map built in the template lacks gives nil (`<no value>`). Keys
    // computed from data (`.user` is "admin", not a key) therefore never reach an error message.
    for template in [
        r#"{{ index . "nope" }}"#,
        "{{ index . .user }}",
        "{{ index . (.user | upper | lower) }}",
        "{{ $k := .user }}{{ index . $k }}",
        "{{ .user | index . }}",
        "{{ with .user }}{{ index $ . }}{{ end }}",
    ] {
        assert_eq!(ok(template), "", "{template}");
    }
    assert_eq!(ok(r#"{{ index . "nope" | default "d" }}"#), "d");
    assert_eq!(ok(r#"{{ index (fromJson .json) "nope" }}"#), "<no value>");
    let e = err(r#"{{ index . "user" "deeper" }}"#);
    assert_eq!(e.reason(), "function", "{e}");
}

#[test]
fn define_template_and_block() {
    assert_eq!(
        ok(
            r#"{{ define "dsn" }}{{ .user }}@{{ index . "my-key" }}{{ end }}{{ template "dsn" . }}|{{ template "dsn" . }}"#
        ),
        "admin@dashed|admin@dashed"
    );
    assert_eq!(ok(r#"{{ block "b" .user }}[{{ . }}]{{ end }}"#), "[admin]");
    // As in Go, a block's default body counts as a definition: defining the name as well is an error.
    assert_eq!(
        err(r#"{{ define "b" }}mine{{ end }}{{ block "b" . }}default{{ end }}"#).reason(),
        "parse"
    );
    // A template sees its own dot as `$` and none of the caller's variables.
    assert_eq!(
        ok(r#"{{ define "t" }}{{ $ }}{{ end }}{{ template "t" "x" }}"#),
        "x"
    );
    assert_eq!(err(r#"{{ template "none" }}"#).reason(), "exec");
    let e = err(r#"{{ define "t" }}{{ template "t" . }}{{ end }}{{ template "t" . }}"#);
    assert!(e.to_string().contains("maximum template depth"), "{e}");
}

#[test]
fn values_from_data_are_never_quoted_in_function_errors() {
    let vals = BTreeMap::from([
        ("n".to_string(), b"9876543".to_vec()),
        ("fmt".to_string(), b"%psecretverb".to_vec()),
        ("bin".to_string(), vec![0xff, 0x01]),
        ("bad_json".to_string(), b"{\"a\": 1, SECRETTAIL".to_vec()),
        ("keystore".to_string(), b"bin".to_vec()),
    ]);
    for (template, reason) in [
        // an index computed from data, and the length of data
        ("{{ index (list 1 2) (fromJson .n) }}", "function"),
        ("{{ index .n (fromJson .n) }}", "function"),
        // a format computed from data: a verb kseal refuses (`%p`) is not quoted
        ("{{ printf .fmt 1.5 }}", "function"),
        // the parser's position in the input is not reported
        ("{{ fromJson .bad_json }}", "function"),
        // a binary value reached through a key computed from data is not named by that key
        ("{{ index . .keystore | b64dec }}", "non_utf8"),
        (
            r#"{{ range $k, $v := . }}{{ if eq $k "bin" }}{{ b64dec $v }}{{ end }}{{ end }}"#,
            "non_utf8",
        ),
    ] {
        let e = render("T", template, &vals).expect_err(template);
        assert_eq!(e.reason(), reason, "{template}: {e}");
        for text in [e.to_string(), format!("{e:?}")] {
            for secret in [
                "9876543",
                "secretverb",
                "%p",
                "SECRETTAIL",
                "column",
                "length",
            ] {
                assert!(!text.contains(secret), "{template}: {text}");
            }
        }
    }
    let e = render("T", "{{ index . .keystore | b64dec }}", &vals).unwrap_err();
    assert!(
        e.to_string().contains("a computed value is a binary value"),
        "{e}"
    );
    // Reached through a key written in the template, the binary value is named by it.
    for template in [
        "{{ .bin | b64dec }}",
        r#"{{ index . "bin" | b64dec }}"#,
        r#"{{ get . "bin" | b64dec }}"#,
    ] {
        let e = render("T", template, &vals).unwrap_err();
        assert!(
            e.to_string().contains(r#"key "bin" is a binary value"#),
            "{template}: {e}"
        );
    }
    // Literal verbs and indexes are template text and may be quoted.
    assert!(
        err(r#"{{ printf "%p" 1.5 }}"#)
            .to_string()
            .contains("verb %p is not supported")
    );
    assert!(
        err("{{ index (list 1) 3 }}")
            .to_string()
            .contains("index 3 out of range")
    );
}

fn many(count: usize, template: &str) -> BTreeMap<String, String> {
    (0..count)
        .map(|i| (format!("k{i:03}"), template.to_owned()))
        .collect()
}

#[test]
fn the_output_limit_is_per_object() {
    // Each template alone is within the limit; together they are 200 times over it.
    let templates = many(200, r#"{{ repeat 1048576 "a" }}"#);
    let mut renderer = Renderer::new(&values());
    let e = renderer.render_map(&templates).unwrap_err();
    assert_eq!(e.reason(), "limit", "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            r#"template "k001": line 1: the object's templates together output more than {MAX_OBJECT_OUTPUT_BYTES} bytes"#
        )
    );
    assert!(renderer.budget.output_used() <= MAX_OBJECT_OUTPUT_BYTES);
    assert!(renderer.budget.work_used() <= MAX_OBJECT_WORK_BYTES);
    // The free function gives each call a budget of its own.
    assert!(render_map(&many(1, r#"{{ repeat 1048576 "a" }}"#), &values()).is_ok());
}

#[test]
fn intermediate_values_count_against_the_object() {
    for template in [
        r#"{{ $x := repeat 1048576 "a" }}{{ len $x }}"#,
        r#"{{ len (repeat 1048576 "a") }}"#,
        r#"{{ repeat 1048576 "a" | sha256sum }}"#,
        r#"{{ $x := repeat 700000 "a" }}{{ $y := $x | b64enc }}"#,
    ] {
        let mut renderer = Renderer::new(&values());
        let e = renderer
            .render_map(&many(200, template))
            .expect_err(template);
        assert_eq!(e.reason(), "limit", "{template}: {e}");
        assert!(
            e.to_string().ends_with(&format!(
                "the object's templates together make functions read and produce more than {MAX_OBJECT_WORK_BYTES} bytes"
            )),
            "{template}: {e}"
        );
        // Counted through the budget: never more than the limit was produced, so at most that much was
        // ever allocated by functions, whatever the number of templates.
        assert!(renderer.budget.work_used() <= MAX_OBJECT_WORK_BYTES);
        let failed_at: usize = e.template()[1..].parse().unwrap();
        assert!(
            failed_at <= MAX_OBJECT_WORK_BYTES / MAX_VALUE_BYTES,
            "{template}: failed only at {failed_at}"
        );
    }
}

#[test]
fn steps_templates_and_sizes_are_limited_per_object() {
    let mut renderer = Renderer::new(&values());
    renderer
        .render("a", "{{ range 600000 }}{{ end }}")
        .expect("alone within the steps limit");
    let e = renderer
        .render("b", "{{ range 600000 }}{{ end }}")
        .unwrap_err();
    assert_eq!(e.reason(), "limit");
    assert!(
        e.to_string()
            .contains(&format!("{MAX_OBJECT_STEPS} evaluation steps")),
        "{e}"
    );

    let e = render_map(&many(MAX_TEMPLATES + 1, "x"), &values()).unwrap_err();
    assert_eq!(e.reason(), "limit");
    assert!(
        e.to_string()
            .contains(&format!("more than {MAX_TEMPLATES} templates")),
        "{e}"
    );
    assert!(render_map(&many(MAX_TEMPLATES, "{{ .user }}"), &values()).is_ok());

    let long = "x".repeat(MAX_TEMPLATE_BYTES + 1);
    for e in [
        render("T", &long, &values()).unwrap_err(),
        validate("T", &long).unwrap_err(),
    ] {
        assert_eq!(e.reason(), "limit");
        assert!(
            e.to_string()
                .contains(&format!("longer than {MAX_TEMPLATE_BYTES} bytes")),
            "{e}"
        );
    }

    // Five templates of almost 1 MiB each (comments: no output): each may be that long, not all together.
    let big = format!("{{{{/* {} */}}}}", "x".repeat(MAX_TEMPLATE_BYTES - 16));
    let five: BTreeMap<String, String> = (0..5).map(|i| (format!("k{i}"), big.clone())).collect();
    let e = render_map(&five, &values()).unwrap_err();
    assert_eq!(e.reason(), "limit");
    assert!(
        e.to_string().contains(&format!(
            "longer than {MAX_OBJECT_TEMPLATE_BYTES} bytes in all"
        )),
        "{e}"
    );
}

#[test]
fn shared_structure_cannot_expand_past_the_limits() {
    // 2^16 references to one 1000-byte string: 65 MB when printed or encoded.
    let doubled = r#"{{ $s := repeat 1000 "a" }}{{ $l := list $s }}{{ range 16 }}{{ $l = list $l $l }}{{ end }}"#;
    for tail in [
        "{{ $l }}",
        "{{ toJson $l | len }}",
        "{{ toYaml $l | len }}",
        "{{ print $l | len }}",
        "{{ join \",\" $l | len }}",
        "{{ printf \"%v\" $l | len }}",
        "{{ toString $l | len }}",
        "{{ quote $l | len }}",
        "{{ cat $l $l | len }}",
    ] {
        let mut renderer = Renderer::new(&values());
        let template = format!("{doubled}{tail}");
        let e = renderer.render("T", &template).expect_err(&template);
        assert_eq!(e.reason(), "limit", "{tail}: {e}");
        assert!(renderer.budget.work_used() <= MAX_OBJECT_WORK_BYTES);
        assert!(renderer.budget.output_used() <= MAX_OBJECT_OUTPUT_BYTES);
    }
    // Many arguments that are each within the limit are checked together.
    let e = err(r#"{{ $s := repeat 1000000 "a" }}{{ cat $s $s | len }}"#);
    assert_eq!(e.reason(), "limit", "{e}");
    let e = err(r#"{{ $s := repeat 1000000 "a" }}{{ quote $s $s | len }}"#);
    assert_eq!(e.reason(), "limit", "{e}");
}

#[test]
fn parsing_stops_at_the_limits() {
    let vals = BTreeMap::from([
        (
            "wide".to_string(),
            format!("[{}0]", "0,".repeat(200_000)).into_bytes(),
        ),
        (
            "deep".to_string(),
            format!("{}{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        ),
        ("pieces".to_string(), ",".repeat(200_000).into_bytes()),
    ]);
    for template in [
        "{{ fromJson .wide | len }}",
        "{{ fromYaml .wide | len }}",
        r#"{{ splitList "," .pieces | len }}"#,
        r#"{{ split "," .pieces | len }}"#,
    ] {
        let mut renderer = Renderer::new(&vals);
        let e = renderer.render("T", template).expect_err(template);
        assert_eq!(e.reason(), "limit", "{template}: {e}");
        assert!(renderer.budget.work_used() <= MAX_OBJECT_WORK_BYTES);
    }
    // Nesting is bounded too (by the parsers' own depth limits or ours).
    for template in ["{{ fromJson .deep }}", "{{ fromYaml .deep }}"] {
        let e = render("T", template, &vals).unwrap_err();
        assert!(matches!(e.reason(), "limit" | "function"), "{e}");
    }
}

#[test]
fn an_ordinary_object_is_far_from_the_limits() {
    // 300 templates over 300 values, each decoding base64, parsing JSON and formatting.
    let mut vals = BTreeMap::new();
    let mut templates = BTreeMap::new();
    for i in 0..300 {
        vals.insert(
            format!("v{i}"),
            format!("{{\"user\":\"u{i}\",\"port\":{i}}}").into_bytes(),
        );
        templates.insert(
            format!("t{i}"),
            format!(r#"{{{{ $c := fromJson .v{i} }}}}{{{{ printf "%s:%v" $c.user $c.port | b64enc | b64dec | upper }}}}"#),
        );
    }
    let mut renderer = Renderer::new(&vals);
    let out = renderer.render_map(&templates).unwrap();
    assert_eq!(out["t7"], b"U7:7");
    assert!(renderer.budget.work_used() < MAX_OBJECT_WORK_BYTES / 10);
}

#[test]
fn to_yaml_writes_what_sigs_k8s_io_yaml_writes() {
    // Go JSON first, then yaml.v2: strings that would read back as another type are double-quoted,
    // strings that cannot be plain are single-quoted, whole floats are integers (`n` is a YAML 1.1
    // bool, so even the key is quoted).
    assert_eq!(
        ok(
            r#"{{ dict "k" "a: b" "n" "010" "p" "plain" "f" 1.0 "g" 0.5 "l" (list "x" "yes") | toYaml }}"#
        ),
        "f: 1\ng: 0.5\nk: 'a: b'\nl:\n- x\n- \"yes\"\n\"n\": \"010\"\np: plain"
    );
    assert_eq!(ok(r#"{{ dict "m" "a\nb\n" | toYaml }}"#), "m: |\n  a\n  b");
}

#[test]
fn quadratic_list_functions_count_as_work() {
    // `uniq` compares every item with the ones kept: 100,000 items would be 10^10 comparisons.
    let e = err("{{ until 100000 | uniq | len }}");
    assert_eq!(e.reason(), "limit", "{e}");
    assert_eq!(ok("{{ list 1 2 1 3 | uniq }}"), "[1 2 3]");
}

#[test]
fn gen_private_key_dsa_is_an_openssl_dsa_key_of_sprigs_size() {
    let out = ok(r#"{{ genPrivateKey "dsa" }}"#);
    let block = pem::parse(&out).expect("one PEM block");
    assert_eq!(block.tag(), "DSA PRIVATE KEY");
    let (seq, rest) = crate::asn1::read(block.contents(), "key").unwrap();
    assert!(rest.is_empty());
    let items = crate::asn1::items(seq.body, "key").unwrap();
    assert_eq!(items.len(), 6, "version, p, q, g, y, x");
    let bits = |i: usize| {
        let body = items[i].body;
        let body = body.strip_prefix(&[0]).unwrap_or(body);
        body.len() * 8 - body[0].leading_zeros() as usize
    };
    assert_eq!(items[0].body, [0]);
    assert_eq!(bits(1), 1024, "p");
    assert_eq!(bits(2), 160, "q");
    assert!(bits(3) <= 1024 && bits(4) <= 1024, "g, y");
    assert!(bits(5) <= 160, "x");
    // A new key each time, as in Go.
    assert_ne!(out, ok(r#"{{ genPrivateKey "dsa" }}"#));
}
