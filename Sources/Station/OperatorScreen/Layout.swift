/// Places a model on a screen of `rows` × `columns`: text, a progress bar, the field, large
/// buttons (3 rows tall, for fingers) and the keypad; every button has a rectangle for touches.
public struct Layout: Equatable, Sendable {
    public enum Item: Equatable, Sendable {
        case text(row: Int, column: Int, String, ScreenModel.Tone, bold: Bool)
        /// A bar across the screen (title and status).
        case bar(row: Int, String, ScreenModel.Tone)
        case box(row: Int, column: Int, height: Int, width: Int, label: String, ScreenModel.Tone)
    }

    public struct Target: Equatable, Sendable {
        public let row: Int, column: Int, height: Int, width: Int
        public let id: String
        func contains(_ r: Int, _ c: Int) -> Bool { r >= row && r < row + height && c >= column && c < column + width }
    }

    public private(set) var items: [Item] = []
    public private(set) var targets: [Target] = []

    public static let minimumRows = 16, minimumColumns = 44

    public init(_ model: ScreenModel, rows: Int, columns: Int) {
        guard rows >= Layout.minimumRows, columns >= Layout.minimumColumns else {
            items = Layout.enlarge(rows: rows, columns: columns)
            return
        }
        items.append(.bar(row: 0, " " + model.title, model.tone))
        var row = 2
        let width = columns - 4
        for line in model.lines {
            for piece in Layout.wrap(line.text, width: width) where row < rows - 6 {
                items.append(.text(row: row, column: 2, piece, line.tone, bold: false))
                row += 1
            }
        }
        if let progress = model.progress, row < rows - 6 {
            row += 1
            let barWidth = max(10, columns - 14)
            let filled = Int((min(max(progress.fraction, 0), 1) * Double(barWidth)).rounded(.down))
            let bar = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: barWidth - filled) + "]"
            items.append(.text(row: row, column: 2, bar + " \(Int(progress.fraction * 100))%", .info, bold: true))
            row += 1
            items.append(.text(row: row, column: 2, String(progress.label.prefix(width)), .normal, bold: false))
            row += 1
        }
        if let field = model.field, row < rows - 6 {
            row += 1
            items.append(.text(row: row, column: 2, field.label, .normal, bold: true))
            row += 1
            let shown = field.masked ? String(repeating: "*", count: field.value.count) : field.value
            // Left-aligned: the box centres its label, so pad the text to the box's inner width.
            let inner = min(width, 40) - 4
            let text = String((shown + "_").suffix(inner))
            items.append(.box(row: row, column: 2, height: 3, width: min(width, 40),
                              label: text + String(repeating: " ", count: max(0, inner - text.count)), .info))
            row += 4
        }
        var column = 2
        if model.keypad {
            // A phone-style grid of large keys, beside nothing else on its rows.
            let keys: [[(String, String)]] = [[("1", "1"), ("2", "2"), ("3", "3")], [("4", "4"), ("5", "5"), ("6", "6")],
                                              [("7", "7"), ("8", "8"), ("9", "9")], [("back", "Del"), ("0", "0")]]
            for keyRow in keys where row + 3 <= rows - 4 {
                column = 2
                for (id, label) in keyRow {
                    items.append(.box(row: row, column: column, height: 3, width: 9, label: label, id == "back" ? .warning : .normal))
                    targets.append(Target(row: row, column: column, height: 3, width: 9, id: "key:\(id)"))
                    column += 10
                }
                row += 3
            }
            column = 2
        }
        for (id, label, tone) in model.buttons.map({ ($0.id, Layout.caption($0), $0.tone) }) {
            let buttonWidth = min(width, max(9, label.count + 4))
            if column + buttonWidth > columns - 2 { column = 2; row += 3 }
            guard row + 3 <= rows - 1 else { break }
            items.append(.box(row: row, column: column, height: 3, width: buttonWidth, label: label, tone))
            targets.append(Target(row: row, column: column, height: 3, width: buttonWidth, id: id))
            column += buttonWidth + 1
        }
        items.append(.bar(row: rows - 1, " " + model.status, .normal))
    }

    /// The request to enlarge the window, wrapped to fit whole: the longest wording whose words
    /// all fit on a line and whose lines all fit on the screen, down to a single word.
    static func enlarge(rows: Int, columns: Int) -> [Item] {
        let wordings = ["Please enlarge this window (\(minimumColumns)x\(minimumRows) at least).", "Please enlarge this window.",
                        "Enlarge this window.", "Enlarge window", "Enlarge", "Larger", "+"]
        let width = max(1, columns), height = max(1, rows)
        let fitting = wordings.first { text in
            text.split(separator: " ").allSatisfy { $0.count <= width } && wrap(text, width: width).count <= height
        } ?? wordings.last!
        return wrap(fitting, width: width).prefix(height).enumerated().map { .text(row: $0.offset, column: 0, $0.element, .warning, bold: true) }
    }

    /// The button under a touch or click, if any.
    public func target(row: Int, column: Int) -> String? {
        targets.first { $0.contains(row, column) }?.id
    }

    static func caption(_ button: ScreenModel.Button) -> String {
        guard let key = button.key else { return button.label }
        return "\(button.label) [\(key)]"
    }

    /// Word wrap for a line of `width` columns (words longer than the line are cut).
    static func wrap(_ text: String, width: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            let piece = String(word.prefix(width))
            if current.isEmpty { current = piece } else if current.count + 1 + piece.count <= width { current += " " + piece } else {
                lines.append(current)
                current = piece
            }
        }
        lines.append(current)
        return lines
    }
}
