import Foundation
import Testing

/// The pages cannot drift from the tool: every ```console block in README.md and docs/ is run
/// and its output compared (times masked, `…` lines standing for any lines), every command page
/// holds the command's current help, and every relative link resolves.
@Suite("Docs")
struct DocsTests {
    static let root = Paths.packageRoot

    static var pages: [URL] {
        var pages = [root.appendingPathComponent("README.md")]
        let docs = root.appendingPathComponent("docs")
        if let walker = FileManager.default.enumerator(at: docs, includingPropertiesForKeys: nil) {
            for case let url as URL in walker where url.pathExtension == "md" { pages.append(url) }
        }
        return pages.sorted { $0.path < $1.path }
    }

    /// One `$ modelgraph …` line of a console block and the output shown under it.
    struct Example: CustomStringConvertible, Sendable {
        var page: String
        var line: Int
        var command: String
        var expected: [String]
        var description: String { "\(page):\(line): \(command)" }
    }

    static func examples() -> [Example] {
        var examples: [Example] = []
        for page in pages {
            guard let text = try? String(contentsOf: page, encoding: .utf8) else { continue }
            let name = page.path.replacingOccurrences(of: root.path + "/", with: "")
            var inConsole = false
            for (number, line) in text.components(separatedBy: "\n").enumerated() {
                if line.hasPrefix("```") {
                    inConsole = !inConsole && line == "```console"
                    continue
                }
                guard inConsole else { continue }
                if line.hasPrefix("$ ") {
                    examples.append(Example(page: name, line: number + 1, command: String(line.dropFirst(2)), expected: []))
                } else if !examples.isEmpty {
                    examples[examples.count - 1].expected.append(line)
                }
            }
        }
        // a blank line closes an example's output
        for index in examples.indices {
            while examples[index].expected.last?.trimmingCharacters(in: .whitespaces).isEmpty == true { examples[index].expected.removeLast() }
        }
        return examples
    }

    /// Words of a command line, with '…' and "…" quoting.
    static func words(_ command: String) -> [String] {
        var words: [String] = [], current = "", quote: Character?, started = false
        for character in command {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                started = true
            } else if character == " " {
                if started || !current.isEmpty { words.append(current) }
                current = ""
                started = false
            } else {
                current.append(character)
            }
        }
        if started || !current.isEmpty { words.append(current) }
        return words
    }

    /// Times vary from run to run: `12.3 ms`, `0.02 s`, `45 it/s` become `<time>`.
    static func masked(_ text: String) -> String {
        text.replacingOccurrences(of: #"\d+(\.\d+)?\s?(ms|s|µs)\b"#, with: "<time>", options: .regularExpression)
    }

    /// `expected` (lines; a `…` line for any lines, `…` in a line for any text) against `actual`.
    static func matches(_ expected: [String], _ actual: String) -> Bool {
        var pattern = "^"
        for line in expected {
            if line.trimmingCharacters(in: .whitespaces) == "…" {
                pattern += #"(?:[^\n]*\n)*?"#
            } else {
                // within a line, … stands for any text (a temporary folder's path)
                let text = masked(line).replacingOccurrences(of: #"\s+$"#, with: "", options: .regularExpression)
                pattern += text.components(separatedBy: "…").map(NSRegularExpression.escapedPattern(for:)).joined(separator: "[^\n]*?") + #"[ \t]*\n"#
            }
        }
        pattern += #"\n*$"#
        let text = masked(actual)
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    @Test("every ```console example in README.md and docs/ prints what the page shows", arguments: examples())
    func example(_ example: Example) throws {
        let arguments = Self.words(example.command)
        try #require(arguments.first == "modelgraph", "\(example): console blocks run modelgraph only")
        // a scratch folder that sees the repository's examples, configs and fixtures
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("mg-docs-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["configs", "examples", "Tests"] {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: Self.root.appendingPathComponent(name))
        }
        let result = try runCLI(Array(arguments.dropFirst()), in: folder)
        let output = result.stdout + result.stderr
        #expect(Self.matches(example.expected, output), "\(example)\n--- the page shows:\n\(example.expected.joined(separator: "\n"))\n--- modelgraph printed:\n\(output)")
    }

    @Test("a changed output line fails the comparison; masked times and … lines do not")
    func comparisonIsStrict() {
        let output = "rows: 3\nspeed 12.5 ms\nlast\n"
        #expect(Self.matches(["rows: 3", "speed 9.1 ms", "last"], output))
        #expect(Self.matches(["…", "last"], output))
        #expect(!Self.matches(["rows: 4", "speed 9.1 ms", "last"], output))
        #expect(!Self.matches(["rows: 3", "last"], output))
        #expect(Self.matches(["rows: 3", "speed …", "last"], output))
        #expect(!Self.matches(["rows: 3", "speed … s", "last"], output))
    }

    @Test("each command page holds the command's own help (scripts/make-docs writes it)")
    func commandPagesHoldTheHelp() throws {
        let folder = Self.root.appendingPathComponent("docs/commands")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".md") }.map { String($0.dropLast(3)) }
        let root = try runCLI(["--help"])
        for name in names {
            #expect(root.stdout.contains("  \(name) "), "\(name).md: no such command")
        }
        for name in names.sorted() {
            let page = try String(contentsOf: folder.appendingPathComponent(name + ".md"), encoding: .utf8)
            let help = try runCLI([name, "--help"]).stdout
            let block = "<!-- help:begin -->\n```text\n" + help.trimmingCharacters(in: .newlines) + "\n```\n<!-- help:end -->"
            #expect(page.contains(block), "docs/commands/\(name).md: its help block is not `modelgraph \(name) --help`; run scripts/make-docs")
        }
    }

    @Test("every relative link in README.md and docs/ resolves, anchors included")
    func linksResolve() throws {
        let link = try NSRegularExpression(pattern: #"\]\(([^)\s]+)\)"#)
        for page in Self.pages {
            let text = try String(contentsOf: page, encoding: .utf8)
            for match in link.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let target = String(text[Range(match.range(at: 1), in: text)!])
                if target.hasPrefix("http://") || target.hasPrefix("https://") || target.hasPrefix("mailto:") { continue }
                let parts = target.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                let file = parts[0].isEmpty ? page : page.deletingLastPathComponent().appendingPathComponent(parts[0]).standardizedFileURL
                #expect(FileManager.default.fileExists(atPath: file.path), "\(page.lastPathComponent): \(target) does not resolve")
                if parts.count == 2, file.pathExtension == "md", let linked = try? String(contentsOf: file, encoding: .utf8) {
                    #expect(Self.anchors(linked).contains(parts[1]), "\(page.lastPathComponent): no heading for #\(parts[1]) in \(file.lastPathComponent)")
                }
            }
        }
    }

    /// GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    static func anchors(_ markdown: String) -> Set<String> {
        Set(markdown.components(separatedBy: "\n").filter { $0.hasPrefix("#") }.map { line in
            let title = line.drop { $0 == "#" }.trimmingCharacters(in: .whitespaces).lowercased()
            return String(title.unicodeScalars.compactMap { scalar -> Character? in
                if scalar == " " { return "-" }
                if scalar == "-" || scalar == "_" || CharacterSet.alphanumerics.contains(scalar) { return Character(scalar) }
                return nil
            })
        })
    }

    @Test("a Swift block that names its source file (`// Sources/….swift`) is that file's text")
    func codeExcerptsMatchTheSource() throws {
        for page in Self.pages {
            let lines = try String(contentsOf: page, encoding: .utf8).components(separatedBy: "\n")
            var index = 0
            while index < lines.count {
                defer { index += 1 }
                guard lines[index] == "```swift", index + 1 < lines.count, lines[index + 1].hasPrefix("// Sources/") else { continue }
                let file = String(lines[index + 1].dropFirst(3))
                guard let end = lines[(index + 2)...].firstIndex(of: "```") else { continue }
                let excerpt = lines[(index + 2)..<end].joined(separator: "\n")
                let source = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
                #expect(source.contains(excerpt), "\(page.lastPathComponent): the excerpt of \(file) no longer matches it")
            }
        }
    }

    @Test("README.md is a front page: at most 250 lines, install and the two commands on its first screen")
    func frontPage() throws {
        let lines = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8).components(separatedBy: "\n")
        #expect(lines.count <= 250)
        let firstScreen = lines.prefix(50).joined(separator: "\n")
        #expect(firstScreen.contains("scripts/install"))
        #expect(firstScreen.contains("scripts/demo"))
        #expect(firstScreen.contains("scripts/test"))
    }
}
