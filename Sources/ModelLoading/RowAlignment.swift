/// Two models' rows paired up, as `diff` and `transfer` pair them: the longest sequence of rows
/// with the same module in both, in order, preferring pairs whose arguments are equal too — so
/// an inserted or removed row does not shift everything after it, and an inserted row that
/// repeats a neighbour's module pairs with the right neighbour when the arguments tell them apart.
public enum RowAlignment: Equatable, Sendable {
    case both(Int, Int)
    case onlyFirst(Int)
    case onlySecond(Int)

    /// `a` and `b`: each row's module and arguments.
    public static func align(_ a: [(module: String, arguments: String)], _ b: [(module: String, arguments: String)]) -> [RowAlignment] {
        // a pair scores 2 for its module, 1 more for equal arguments; best[i][j]: the best total for a[i...] and b[j...]
        func score(_ i: Int, _ j: Int) -> Int? {
            a[i].module == b[j].module ? 2 + (a[i].arguments == b[j].arguments ? 1 : 0) : nil
        }
        var best = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in stride(from: a.count - 1, through: 0, by: -1) {
            for j in stride(from: b.count - 1, through: 0, by: -1) {
                best[i][j] = max(best[i + 1][j], best[i][j + 1], score(i, j).map { $0 + best[i + 1][j + 1] } ?? 0)
            }
        }
        var steps: [RowAlignment] = []
        var (i, j) = (0, 0)
        while i < a.count || j < b.count {
            if i < a.count, j < b.count, let pair = score(i, j), best[i][j] == pair + best[i + 1][j + 1] {
                steps.append(.both(i, j))
                (i, j) = (i + 1, j + 1)
            } else if j < b.count, i == a.count || best[i][j + 1] >= best[i + 1][j] {
                steps.append(.onlySecond(j))
                j += 1
            } else {
                steps.append(.onlyFirst(i))
                i += 1
            }
        }
        return steps
    }
}
