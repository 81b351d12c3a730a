//! The built-in pack: the files of `policies/`, compiled into the binary so
//! that routewarden works with no files at all. They load like any policy file.

/// `(file name, text)` of every built-in policy file, in load order.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "authentication.toml",
        include_str!("../../../../policies/authentication.toml"),
    ),
    (
        "hygiene.toml",
        include_str!("../../../../policies/hygiene.toml"),
    ),
    (
        "context.toml",
        include_str!("../../../../policies/context.toml"),
    ),
];
