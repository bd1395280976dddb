import PythonFrontEnd
import PythonInterpreter

/// Counts operations as Ultralytics' get_flops does (thop's profile: a rule per module type,
/// matched along the class's MRO; functional products outside modules with a rule of their own).
public final class ThopCounter {
    public var total: Double = 0
    let torch: TorchRuntime
    public init(torch: TorchRuntime) { self.torch = torch }
    func entered(_ a: Arguments, _ interp: Interpreter) {}
    func left(_ a: Arguments, _ interp: Interpreter) throws {}
}

extension TorchRuntime {
    public var counter: ThopCounter? {
        get { counterStorage }
        set { counterStorage = newValue }
    }
}
