import ModelSpec
import Tensor

/// `nn.ZeroPad2d(padding)` as a YAML row (YOLOv3-tiny): an int for every side, or
/// [left, right, top, bottom].
public struct ZeroPad: LayerModule {
    public static let names = ["nn.ZeroPad2d"]
    public static let signature = Signature([
        .init("padding", "padding", .anything),
    ])
    public static let channelRule = ChannelRule.sameAsInput

    public var typeName: String { "ZeroPad2d" }
    let channels: Int
    /// Left, right, top, bottom.
    let sides: [Int]

    public init(_ context: LayerContext) throws(LayerError) {
        channels = context.inputChannel
        switch context.arguments.value("padding") {
        case .int(let value) where value >= 0:
            sides = [value, value, value, value]
        case .list(let items) where items.count == 4:
            let values = items.compactMap { if case .int(let v) = $0, v >= 0 { return v } else { return nil } }
            guard values.count == 4 else { fallthrough }
            sides = values
        default:
            throw LayerError("padding is an int ≥ 0 or [left, right, top, bottom] of ints ≥ 0, found \(context.arguments.value("padding"))",
                             blame: .argument(0))
        }
    }

    public var outputChannels: [Int] { [channels] }
    public mutating func visit<V: BlockVisitor>(_ visitor: inout V) {}

    public func callAsFunction(_ inputs: [Feature], _ pass: Pass) throws(LayerError) -> [Feature] {
        try requireFeatureMap(inputs[0].shape, channels: channels)
        return [inputs[0].zeroPadded(left: sides[0], right: sides[1], top: sides[2], bottom: sides[3])]
    }
}
