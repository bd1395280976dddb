/// Every module type the YAML vocabulary knows. Adding a module is one file plus one line here.
public enum ModuleRegistry {
    public static let types: [any LayerModule.Type] = [
        Conv.self,
        Concat.self,
        Upsample.self,
        RepC3.self,
        AIFI.self,
        StarNet.self,
        FreqFusion.self,
        DySample.self,
        CARAFE.self,
        RTDETRDecoder.self,
        C2f.self,
        C2.self,
        SPPF.self,
        MaxPool.self,
        Detect.self,
        C3k2.self,
        C2PSA.self,
        HGStem.self,
        HGBlock.self,
        DWConv.self,
        ResNetLayer.self,
        A2C2f.self,
        Segment.self,
        Pose.self,
        OBB.self,
        Classify.self,
        SemanticSegment.self,
        Depth.self,
        C3.self,
        BottleneckLayer.self,
        SPP.self,
        ZeroPad.self,
        ConvTransposeLayer.self,
        GhostConv.self,
        GhostBottleneck.self,
        C3Ghost.self,
        RepNCSPELAN4.self,
        ELAN1.self,
        SPPELAN.self,
        AConv.self,
        ADown.self,
        CBLinear.self,
        CBFuse.self,
        IdentityLayer.self,
        SCDown.self,
        PSA.self,
        C2fCIB.self,
        V10Detect.self,
        C2fAttn.self,
        ImagePoolingAttn.self,
        WorldDetect.self,
        YOLOEDetect.self,
        YOLOESegment.self,
        TorchVision.self,
    ]

    /// Every YAML name, in registry order.
    public static var allNames: [String] { types.flatMap { $0.names } }

    /// The type answering to a YAML name.
    public static func type(named name: String) -> (any LayerModule.Type)? {
        types.first { $0.names.contains(name) }
    }
}
