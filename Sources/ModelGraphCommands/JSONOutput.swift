import ArgumentParser

/// `--json`, declared once: a command with machine-readable output prints JSON on stdout instead
/// of its text — one object per run (per image for `predict`), its fields listed on the
/// command's page. Errors stay on stderr, located as in text mode.
struct JSONOutput: ParsableArguments {
    @Flag(help: "Print JSON on stdout instead of text: one object (one per image for predict); docs/commands/ lists the fields.")
    var json = false
}
