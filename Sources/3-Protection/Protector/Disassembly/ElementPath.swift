import DICOMCore

/// Where an element sits in the data set tree: the sequences and items above it, then its tag.
/// Reconstruction uses it to remove or replace exactly that element, at any depth.
public struct ElementPath: Hashable, Sendable, CustomStringConvertible {
    public struct Step: Hashable, Sendable {
        public let sequence: Tag
        public let item: Int
    }

    public var steps: [Step]
    public var tag: Tag

    public init(steps: [Step] = [], tag: Tag) { self.steps = steps; self.tag = tag }

    /// `(0088,0200)[0](7FE0,0010)`, as findings and the per-part map print it.
    public var description: String {
        steps.map { "\($0.sequence)[\($0.item)]" }.joined() + tag.description
    }

    /// The path of an element inside item `item` of this element (a sequence).
    func child(item: Int, tag: Tag) -> ElementPath {
        ElementPath(steps: steps + [Step(sequence: self.tag, item: item)], tag: tag)
    }
}

extension DataSet {
    /// Applies `change` to the data set that holds the element at `path` (the root or an item
    /// of a nested sequence), then puts the items back on the way up. Iterative: the depth is the
    /// path's, which the parser already bounded. Returns false when the path no longer exists.
    @discardableResult
    mutating func modify(at path: ElementPath, _ change: (inout DataSet) -> Void) -> Bool {
        guard !path.steps.isEmpty else {
            change(&self)
            return true
        }
        // The chain holds the only reference to the root while it changes, so putting an item
        // back replaces one element in place instead of copying the whole root data set.
        var chain: [DataSet] = [self]
        self = DataSet()
        defer { self = chain[0] }
        for step in path.steps {
            guard let items = chain[chain.count - 1][step.sequence]?.items, items.indices.contains(step.item) else { return false }
            chain.append(items[step.item].dataSet)
        }
        change(&chain[chain.count - 1])
        for (level, step) in path.steps.enumerated().reversed() {
            guard var element = chain[level][step.sequence], case var .sequence(items) = element.value else { return false }
            items[step.item].dataSet = chain[level + 1]
            element.value = .sequence(items)
            chain[level].set(element)
        }
        return true
    }
}
