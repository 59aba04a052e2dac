//! Peak heap while rendering hostile objects stays a small multiple of 1 MiB, whatever the number of
//! templates. Measured with a counting allocator, so this file holds a single test (tests of one binary
//! run on parallel threads and would count each other's allocations).

use std::collections::BTreeMap;

use kseal_template::{MAX_OBJECT_OUTPUT_BYTES, MAX_OBJECT_WORK_BYTES, Renderer};
use peak_alloc::PeakAlloc;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// Peak heap above what was live before, while rendering `templates` as one object.
fn peak_while_rendering(
    values: &BTreeMap<String, Vec<u8>>,
    templates: &BTreeMap<String, String>,
) -> (usize, kseal_template::Result<usize>) {
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let result = Renderer::new(values)
        .render_map(templates)
        .map(|out| out.values().map(Vec::len).sum());
    (HEAP.peak_usage() - before, result)
}

fn many(count: usize, template: &str) -> BTreeMap<String, String> {
    (0..count)
        .map(|i| (format!("t{i:03}"), template.to_owned()))
        .collect()
}

#[test]
fn hostile_objects_stay_within_a_few_mib() {
    let values = BTreeMap::from([
        ("user".to_string(), b"admin".to_vec()),
        (
            "wide".to_string(),
            format!("[{}0]", "0,".repeat(400_000)).into_bytes(),
        ),
        ("commas".to_string(), ",".repeat(400_000).into_bytes()),
    ]);
    // The work budget, the output (with the growth slack of its buffers) and one value being built.
    let bound = MAX_OBJECT_WORK_BYTES + 4 * MAX_OBJECT_OUTPUT_BYTES;
    let hostile = [
        r#"{{ repeat 1048576 "a" }}"#,
        r#"{{ $x := repeat 1048576 "a" }}{{ len $x }}"#,
        r#"{{ len (repeat 1048576 "a") }}"#,
        r#"{{ $s := repeat 500000 "a" }}{{ range 1000000 }}{{ $t := printf "%s%s" $s $s }}{{ end }}"#,
        r#"{{ $s := repeat 1000 "a" }}{{ $l := list $s }}{{ range 16 }}{{ $l = list $l $l }}{{ end }}{{ toJson $l | len }}"#,
        r#"{{ $s := repeat 1000 "a" }}{{ $l := list $s }}{{ range 16 }}{{ $l = list $l $l }}{{ end }}{{ $l }}"#,
        "{{ fromJson .wide | len }}",
        r#"{{ splitList "" .commas | len }}"#,
        r#"{{ $a := fromJson .wide }}{{ $b := fromJson .wide }}{{ $c := fromJson .wide }}{{ len $c }}"#,
    ];
    for template in hostile {
        let (peak, result) = peak_while_rendering(&values, &many(200, template));
        let error = result.expect_err(template);
        assert_eq!(error.reason(), "limit", "{template}: {error}");
        assert!(
            peak <= bound,
            "{template}: peak heap {peak} bytes while rendering, over {bound}"
        );
    }
    // An ordinary object renders, and within the same bound.
    let (peak, result) = peak_while_rendering(&values, &many(200, "{{ .user | b64enc }}"));
    assert_eq!(result.unwrap(), 200 * 8);
    assert!(peak <= bound, "peak heap {peak}");
}
