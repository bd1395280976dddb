import Foundation

/// Reading a file named on the command line (a model, weights, input or checkpoint), with the
/// reasons it cannot be read said plainly: a directory, a missing file, too many bytes.
public enum InputFile {
    public enum Problem: Error, CustomStringConvertible, Sendable {
        case isDirectory
        case tooLarge(bytes: Int, largest: Int)
        /// Foundation's reason, in a few words where it has a code for it.
        case unreadable(String)

        public var description: String {
            switch self {
            case .isDirectory: return "is a directory"
            case .tooLarge(let bytes, let largest): return "\(bytes) bytes; the limit is \(largest)"
            case .unreadable(let reason): return reason
            }
        }
    }

    /// The file's bytes (`options`: how Foundation reads them, e.g. memory-mapped), after
    /// checking that it is not a directory and holds at most `largest` bytes.
    public static func read(_ path: String, largest: Int = .max, options: Data.ReadingOptions = []) throws(Problem) -> Data {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { throw .isDirectory }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        if let size = attributes?[.size] as? Int {
            if size > largest { throw .tooLarge(bytes: size, largest: largest) }
            // Foundation leaks a 4 KiB buffer reading an empty file (AddressSanitizer's finding);
            // a pipe reports size 0 too, so only a regular file is taken at its word
            if size == 0, attributes?[.type] as? FileAttributeType == .typeRegular { return Data() }
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: options)
        } catch {
            let nsError = error as NSError
            switch (nsError.domain, nsError.code) {
            case (NSCocoaErrorDomain, NSFileReadNoSuchFileError): throw .unreadable("no such file")
            case (NSCocoaErrorDomain, NSFileReadNoPermissionError): throw .unreadable("permission denied")
            default: throw .unreadable(nsError.localizedFailureReason ?? nsError.localizedDescription)
            }
        }
    }
}
