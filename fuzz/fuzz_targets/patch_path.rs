//! Any text: the PATCH path parser answers Ok or a 400, never panics; a path it accepts prints
//! as text that parses back to the same path.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim::filter::PatchPath;

fuzz_target!(|text: &str| {
    match PatchPath::parse(text) {
        Ok(path) => {
            let printed = path.to_string();
            assert_eq!(PatchPath::parse(&printed).as_ref(), Ok(&path), "{text:?} printed as {printed:?}");
        }
        Err(e) => assert_eq!(e.status, 400, "{e}"),
    }
});
