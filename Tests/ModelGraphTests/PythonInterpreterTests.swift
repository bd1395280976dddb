import ForkTorch
import Foundation
import PythonFrontEnd
import PythonInterpreter
import Testing

/// Runs `body` on a thread with a large stack, as the CLI runs fork code.
final class StackBox<T>: @unchecked Sendable {
    var value: T?
    init() {}
}

func onLargeStack<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T {
    let box = StackBox<T>(), done = DispatchSemaphore(value: 0)
    let thread = Thread { box.value = body(); done.signal() }
    thread.stackSize = 1 << 28
    thread.start()
    done.wait()
    return box.value!
}

/// Runs a Python file in a fresh interpreter with fork mode's torch; returns what it printed, or the error's text.
func runPython(_ file: URL, root: URL? = nil, budget: InterpreterBudget = InterpreterBudget()) -> (printed: [String], error: String?) {
    onLargeStack {
        let importer = Importer(root: root)
        let interpreter = Interpreter(importer: importer, budget: budget)
        _ = TorchRuntime.install(into: importer, interpreter: interpreter)
        defer { interpreter.tearDown() }
        do {
            let source = try String(contentsOf: file, encoding: .utf8)
            _ = try importer.runMain(source, file: file.lastPathComponent, interpreter: interpreter)
            return (interpreter.printed, nil)
        } catch let failure as PyError {
            let text = (try? interpreter.str(.object(failure.exception))) ?? ""
            let place = failure.traceback.first.map { "\($0.file):\($0.location): " } ?? ""
            return (interpreter.printed, place + failure.typeName + ": " + text)
        } catch {
            return (interpreter.printed, "\(error)")
        }
    }
}

@Suite("Python interpreter")
struct PythonInterpreterTests {
    static let python = Paths.fixtures.appendingPathComponent("python")

    static var semanticsFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: python.appendingPathComponent("semantics").path)) ?? [])
            .filter { $0.hasSuffix(".py") }.sorted()
    }

    /// Each file's printed lines equal what CPython 3.11 printed for it (the .out files).
    @Test(arguments: semanticsFiles)
    func semanticsMatchCPython(_ name: String) throws {
        let file = Self.python.appendingPathComponent("semantics").appendingPathComponent(name)
        let expected = try String(contentsOf: file.deletingPathExtension().appendingPathExtension("out"), encoding: .utf8)
        let (printed, error) = runPython(file)
        #expect(error == nil, "\(name): \(error ?? "")")
        let lines = expected.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).dropLast()
        let mineLines = printed.joined(separator: "\n").split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(mineLines.count == lines.count, "\(name): \(mineLines.count) lines, CPython printed \(lines.count)")
        for (mine, theirs) in zip(mineLines, lines) where mine != theirs {
            Issue.record("\(name): ModelGraph printed\n  \(mine)\nCPython printed\n  \(theirs)")
        }
    }

    static var hostileFiles: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: python.appendingPathComponent("hostile").path)) ?? [])
            .filter { $0.hasSuffix(".py") && !$0.hasPrefix("cycle_") }.sorted()
    }

    /// Hostile sources end with their specific, located message — never a crash or a hang.
    @Test(arguments: hostileFiles)
    func hostileSourceEndsWithItsMessage(_ name: String) throws {
        let directory = Self.python.appendingPathComponent("hostile")
        let file = directory.appendingPathComponent(name)
        let header = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").first ?? ""
        let expected = String(header.dropFirst("# expect: ".count))
        var budget = InterpreterBudget()
        budget.steps = 2_000_000
        budget.recursionDepth = 100
        budget.containerElements = 50_000
        let (_, error) = runPython(file, root: directory, budget: budget)
        let message = try #require(error, "\(name) ran to its end")
        #expect(message.contains(expected), "\(name): \(message)")
        #expect(message.contains(".py:"), "\(name) is not located: \(message)")
    }

    @Test func syntaxErrorsAreLocated() throws {
        let cases: [(String, String)] = [
            ("x = (1,\n", "t.py:1:5: SyntaxError: '(' was never closed"),
            ("def f(a, a): pass\n", "t.py:1:10: SyntaxError: duplicate argument 'a'"),
            ("def f(a=1, b): pass\n", "t.py:1:12: SyntaxError: non-default argument follows default argument"),
            ("1 = x\n", "t.py:1:1: SyntaxError: cannot assign to this expression"),
            ("x = 'unterminated\n", "t.py:1:5: SyntaxError: unterminated string literal"),
            ("x = 012\n", "t.py:1:5: SyntaxError: leading zeros"),
            ("f'{}'\n", "SyntaxError: f-string: empty expression not allowed"),
            ("  x = 1\n", "t.py:1:3: SyntaxError: unexpected indent"),
            ("x = 1 $ 2\n", "t.py:1:7: SyntaxError: invalid character '$'"),
        ]
        for (source, expected) in cases {
            do {
                _ = try Parser.parse(source: source, file: "t.py")
                Issue.record("parsed without error: \(source)")
            } catch let error as PythonSyntaxError {
                #expect(error.description.contains(expected), "\(source): \(error.description)")
            }
        }
    }

    /// Every node keeps its place: a traceback names the line and column of the failing call.
    @Test func tracebacksNameFileLineAndColumn() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mg-traceback-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("main.py")
        try "def inner(v):\n    return v + 'x'\n\ndef outer():\n    return inner(1)\n\nouter()\n".write(to: file, atomically: true, encoding: .utf8)
        let (_, error) = runPython(file, root: directory)
        #expect(error == "main.py:2:12: TypeError: unsupported operand type(s) for +: 'int' and 'str'")
    }

    /// Model code's favourite constructs, parsed from every line of a real-looking module.
    @Test func parsesModelCodeConstructs() throws {
        let source = """
        from __future__ import annotations
        from .block import *
        from ..modules import (Conv,
                               C2f as Base)
        import torch.nn as nn
        @torch.no_grad()
        def init(m, *, std: float = 0.02, **kw) -> None:
            global COUNT
            for name, p in m.named_parameters():
                if p.dim() > 1 and not name.endswith(".bias"):
                    nn.init.trunc_normal_(p, std=std)
                elif (n := p.numel()) < 10:
                    pass
            with torch.no_grad(), contextlib.suppress(Exception) as s:
                x = [y for y in range(3) if y] + [*a, *b]
            assert isinstance(m, nn.Module), f"{type(m).__name__!r:>10} bad {std=}"
            del kw["x"], m.attr
            return lambda *a, **k: (a, k)
        class C2f_X(Base, metaclass=type):
            '''doc'''
            x: int = 3
            def forward(self, x):
                y = list(self.cv1(x).chunk(2, 1))
                y.extend(m(y[-1]) for m in self.m)
                return self.cv2(torch.cat(y, 1))[..., ::2, None] if self.a else x @ x.T
            async def noop(self):
                await thing()
        try:
            import mmcv
        except (ImportError, ModuleNotFoundError) as e:
            mmcv = None
        else:
            pass
        finally:
            pass
        while x := next(it, None):
            break
        else:
            pass
        print(*args, sep='', end=r'\\n', file=None) ; x = 1 if y else 2
        """
        let module = try Parser.parse(source: source, file: "block.py")
        #expect(module.body.count == 10)
        guard case .classDef(let definition) = module.body[5].kind else { Issue.record("no class"); return }
        #expect(definition.name == "C2f_X")
        #expect(definition.location == SourceLocation(line: 19, column: 1))
    }
}
