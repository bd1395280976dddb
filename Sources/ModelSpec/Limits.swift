/// Bounds on what a model file and the command line may ask for: far beyond any real model,
/// small enough that shape and parameter arithmetic cannot overflow. Past them is an error.
public enum Limits {
    /// Largest magnitude of a numeric argument, `nc`, `ch`, `max_channels`, batch or image side.
    public static let largestNumber = 65_536
    /// Largest `depth_multiple` / `width_multiple` (and scale entries).
    public static let largestMultiplier = 16.0
    /// Largest `repeats` of a row.
    public static let largestRepeats = 4096
    /// Largest sum of the rows' repeats after depth scaling: the blocks a model chains (the
    /// most in an official model is 99, yolov6l), bounding the work of building one.
    public static let largestTotalRepeats = 16_384
}
