import CFuzzerDriver
import DICOMCore
@testable import Protector

/// SwiftPM's entry symbol for this executable: run libFuzzer's driver on `fuzz`.
@_cdecl("FuzzCodestreamEnd_main")
func entry(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc, argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data!, size) }
}

/// Where a codestream ends, on arbitrary bytes split into fragments. Bits 0–1 of the first byte
/// pick JPEG, JPEG-LS, JPEG 2000 or RLE; bits 2–3 the Basic Offset Table (empty, right, taken from
/// the input, wrong length). Then the fragment count (1–8), the frame count (1–4), Rows × Columns
/// for RLE (u16 LE), each fragment's length but the last (u32 LE, clamped), and the bytes the
/// fragments split.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    guard let selector = input.first else { return 0 }
    fragments(selector, Array(input.dropFirst()))
    return 0
}

private func fragments(_ selector: UInt8, _ rest: [UInt8]) {
    guard rest.count >= 4 else { return }
    let family: CodestreamEnd.Family = [.jpeg, .jpegLS, .jpeg2000, .rle][Int(selector & 3)]
    let count = Int(rest[0] % 8) + 1
    let frames = Int(rest[1] % 4) + 1
    let segmentBytes = Int64(rest[2]) | Int64(rest[3]) << 8
    var at = 4
    var lengths: [Int] = []
    for _ in 0..<count - 1 {
        guard at + 4 <= rest.count else { break }
        lengths.append(Int(RLE.u32(rest, at)))
        at += 4
    }
    var payload = Array(rest[at...])
    // The table, when taken from the input, comes before the fragments' bytes.
    let tableMode = Int(selector >> 2 & 3)
    var tableBytes: [UInt8] = []
    if tableMode >= 2 {
        let wanted = frames * 4 + (tableMode == 3 ? 4 : 0)
        tableBytes = Array(payload.prefix(wanted))
        payload = Array(payload.dropFirst(wanted))
    }
    var pieces: [[UInt8]] = []
    var position = 0
    for length in lengths {
        let take = min(length, payload.count - position)
        pieces.append(Array(payload[position..<position + take]))
        position += take
    }
    pieces.append(Array(payload[position...]))
    if tableMode == 1 {
        // Frame k starts at fragment k × n / frames: item offsets as a writer would record them.
        var itemStarts: [Int] = []
        var offset = 0
        for piece in pieces { itemStarts.append(offset); offset += 8 + piece.count }
        for frame in 0..<frames {
            let start = UInt32(itemStarts[frame * pieces.count / frames])
            tableBytes += [UInt8(start & 0xFF), UInt8(start >> 8 & 0xFF), UInt8(start >> 16 & 0xFF), UInt8(start >> 24)]
        }
    }

    // The same fragments held in memory and left in a source: both must give the same walk.
    var file: [UInt8] = tableBytes
    var deferred: [ValueBytes] = []
    for piece in pieces {
        deferred.append(.deferred(offset: Int64(file.count), length: Int64(piece.count)))
        file += piece
    }
    let reader = ValueReader(InMemoryByteSource(file))
    let inline = pieces.map { ValueBytes.inline($0) }
    let inlineTable = Fragment(bytes: .inline(tableBytes), offset: 0)
    let deferredTable = Fragment(bytes: .deferred(offset: 0, length: Int64(tableBytes.count)), offset: 0)
    let first = CodestreamEnd.walk(family, table: inlineTable, values: inline, frames: frames, segmentBytes: segmentBytes, reader: reader)
    let again = CodestreamEnd.walk(family, table: deferredTable, values: deferred, frames: frames, segmentBytes: segmentBytes, reader: reader)
    precondition(same(first, again), "the walk differs between values in memory and values in the source")
    if let walk = first { check(walk, pieces: pieces, frames: frames) }

    // All fragments as one frame's stream: the end lies within the bytes read.
    var stream = FragmentStream(values: inline, reader: reader)
    let outcome: CodestreamEnd.Outcome = switch family {
    case .jpeg, .jpegLS: JPEG.end(&stream, ls: family == .jpegLS)
    case .jpeg2000: JPEG2000.end(&stream)
    case .rle: RLE.end(&stream, segmentBytes: segmentBytes)
    }
    if case let .ended(fragment, offset) = outcome {
        precondition(pieces.indices.contains(fragment), "the end lies in fragment \(fragment) of \(pieces.count)")
        precondition(offset >= 0 && offset <= Int64(pieces[fragment].count), "the end lies at \(offset) of \(pieces[fragment].count)")
        let before = pieces[..<fragment].reduce(0) { $0 + $1.count }
        precondition(Int64(before) + offset == stream.consumed, "the end is not where the stream stopped")
    }
}

private func same(_ a: CodestreamEnd.Walk?, _ b: CodestreamEnd.Walk?) -> Bool {
    guard let a, let b else { return a == nil && b == nil }
    return a.cut == b.cut && a.notes == b.notes && a.filler == b.filler && a.rejection == b.rejection
}

/// What a walk may cut: fragments that exist, within their lengths, each cut once; frame starts in order.
private func check(_ walk: CodestreamEnd.Walk, pieces: [[UInt8]], frames: Int) {
    let cut = walk.cut
    for (index, length) in cut.truncated {
        precondition(pieces.indices.contains(index), "truncated fragment \(index) of \(pieces.count)")
        precondition(length >= 0 && length < Int64(pieces[index].count), "fragment \(index) cut to \(length) of \(pieces[index].count)")
        precondition(!cut.dropped.contains(index), "fragment \(index) both cut and dropped")
    }
    for index in cut.dropped { precondition(pieces.indices.contains(index), "dropped fragment \(index) of \(pieces.count)") }
    precondition(cut.frameStarts.count <= frames, "\(cut.frameStarts.count) frame starts for \(frames) frames")
    precondition(zip(cut.frameStarts, cut.frameStarts.dropFirst()).allSatisfy { $0 < $1 }, "frame starts out of order: \(cut.frameStarts)")
    for start in cut.frameStarts {
        precondition(pieces.indices.contains(start) && !cut.dropped.contains(start), "frame start \(start) of \(pieces.count), dropped: \(cut.dropped)")
    }
    // Empty fragments after an end carry nothing: left out silently (the rebuild keeps them).
    let cutBytes = cut.truncated.map { Int64(pieces[$0.key].count) - $0.value }.reduce(0, +) + cut.dropped.map { Int64(pieces[$0].count) }.reduce(0, +)
    precondition(walk.notes.isEmpty == (cutBytes == 0), "notes without cut bytes or cut bytes without notes")
}
