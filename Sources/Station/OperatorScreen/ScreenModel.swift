/// What the operator screen shows, as plain data: the kiosk builds it from its session state and
/// the screen draws it. Colour always comes with words (a tone is never the only signal).
public struct ScreenModel: Equatable, Sendable {
    public enum Tone: Equatable, Sendable { case normal, good, warning, danger, info }

    public struct Line: Equatable, Sendable {
        public var text: String
        public var tone: Tone
        public init(_ text: String, _ tone: Tone = .normal) { self.text = text; self.tone = tone }
    }

    public struct Button: Equatable, Sendable {
        public var id: String
        public var label: String
        /// A key that presses it too (digits for lists, Enter for the primary, Esc for the secondary).
        public var key: String?
        public var tone: Tone
        public init(id: String, label: String, key: String? = nil, tone: Tone = .normal) {
            self.id = id; self.label = label; self.key = key; self.tone = tone
        }
    }

    public struct Field: Equatable, Sendable {
        public var label: String
        public var value: String
        public var masked: Bool
        public init(label: String, value: String, masked: Bool = false) { self.label = label; self.value = value; self.masked = masked }
    }

    public struct Progress: Equatable, Sendable {
        public var fraction: Double
        public var label: String
        public init(fraction: Double, label: String) { self.fraction = fraction; self.label = label }
    }

    public var title: String
    public var tone: Tone
    public var lines: [Line]
    public var progress: Progress?
    public var field: Field?
    public var buttons: [Button]
    /// A digit keypad for PINs and codes on a touch screen.
    public var keypad: Bool
    /// Bottom bar: who is signed in, where images go, what waits in the spool.
    public var status: String

    public init(title: String, tone: Tone = .normal, lines: [Line] = [], progress: Progress? = nil, field: Field? = nil,
                buttons: [Button] = [], keypad: Bool = false, status: String = "") {
        self.title = title; self.tone = tone; self.lines = lines; self.progress = progress; self.field = field
        self.buttons = buttons; self.keypad = keypad; self.status = status
    }
}

/// What the operator did, in terms of the model.
public enum ScreenInput: Equatable, Sendable {
    /// A button, touched or pressed by its key.
    case button(String)
    /// A character typed into the field (keyboard or barcode scanner).
    case character(Character)
    case backspace
    /// Enter with no primary button meaning: submits the field.
    case submit
    /// The terminal went away (hangup, closed window).
    case closed
}
