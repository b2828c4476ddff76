import CNcurses
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The ncurses operator screen on the process's terminal. One thread owns ncurses (it is not
/// thread-safe): it draws the latest model, turns keys, a barcode scanner's typing and mouse or
/// touch presses into `ScreenInput`, and notices when the terminal goes away. `show` may be
/// called from anywhere.
public final class OperatorScreen: @unchecked Sendable {
    private let lock = NSLock()
    private var model: ScreenModel
    private var dirty = true
    private var stopped = false
    private var thread: Thread?
    private let onInput: @Sendable (ScreenInput) -> Void

    public init(initial: ScreenModel, onInput: @escaping @Sendable (ScreenInput) -> Void) {
        model = initial
        self.onInput = onInput
    }

    public func show(_ next: ScreenModel) {
        lock.withLock {
            if next != model { model = next; dirty = true }
        }
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "kiosk-agent screen"
        self.thread = thread
        thread.start()
    }

    public func stop() { lock.withLock { stopped = true } }

    // MARK: the UI thread

    private func run() {
        if setlocale(LC_ALL, "") == nil || String(cString: nl_langinfo(nl_item(CODESET))) != "UTF-8" {
            _ = setlocale(LC_ALL, "C.UTF-8")      // patients' names need UTF-8
        }
        // Our own FILE streams on the terminal's descriptors (the C globals are shared mutable state).
        guard let output = fdopen(STDOUT_FILENO, "w"), let input = fdopen(STDIN_FILENO, "r"),
              let screen = newterm(nil, output, input) else {
            onInput(.closed)
            return
        }
        set_term(screen)
        cbreak()
        noecho()
        keypad(kiosk_stdscr(), true)
        curs_set(0)
        wtimeout(kiosk_stdscr(), 100)
        // Touch screens arrive as mouse presses; no click interval, so a touch acts at once.
        mousemask(kiosk_button1_pressed() | kiosk_button1_clicked() | kiosk_button1_released(), nil)
        mouseinterval(0)
        if has_colors() {
            start_color()
            use_default_colors()
            init_pair(1, Int16(COLOR_GREEN), -1)
            init_pair(2, Int16(COLOR_YELLOW), -1)
            init_pair(3, Int16(COLOR_RED), -1)
            init_pair(4, Int16(COLOR_CYAN), -1)
        }
        var layout = Layout(ScreenModel(title: ""), rows: 0, columns: 0)
        var current = ScreenModel(title: "")
        while true {
            let (stop, next, redraw) = lock.withLock { () -> (Bool, ScreenModel, Bool) in
                defer { dirty = false }
                return (stopped, model, dirty)
            }
            if stop { break }
            if OperatorScreen.terminalGone() {
                onInput(.closed)
                break
            }
            if redraw {
                current = next
                layout = Layout(current, rows: Int(kiosk_lines()), columns: Int(kiosk_cols()))
                draw(layout)
            }
            var character: wint_t = 0
            let kind = wget_wch(kiosk_stdscr(), &character)
            if kind == ERR { continue }
            if kind == KEY_CODE_YES {
                switch Int32(character) {
                case KEY_RESIZE: lock.withLock { dirty = true }
                case KEY_MOUSE:
                    var event = MEVENT()
                    if getmouse(&event) == OK, event.bstate & (kiosk_button1_pressed() | kiosk_button1_clicked()) != 0,
                       let id = layout.target(row: Int(event.y), column: Int(event.x)) {
                        onInput(.button(id))
                    }
                case KEY_BACKSPACE: onInput(.backspace)
                case KEY_ENTER: press("Enter", in: current, otherwise: .submit)
                default: break
                }
                continue
            }
            switch character {
            case 10, 13: press("Enter", in: current, otherwise: .submit)
            case 27: press("Esc", in: current, otherwise: nil)
            case 8, 127: onInput(.backspace)
            default:
                guard let scalar = Unicode.Scalar(character), scalar.value >= 0x20 else { continue }
                let typed = String(Character(scalar))
                // Digits pick list entries only when no field is being typed into.
                if current.field == nil, let button = current.buttons.first(where: { $0.key == typed }) {
                    onInput(.button(button.id))
                } else {
                    onInput(.character(Character(scalar)))
                }
            }
        }
        endwin()
        delscreen(screen)
    }

    private func press(_ key: String, in model: ScreenModel, otherwise: ScreenInput?) {
        if let button = model.buttons.first(where: { $0.key == key }) { onInput(.button(button.id)) } else if let otherwise { onInput(otherwise) }
    }

    /// A hung-up or closed terminal: poll reports it on standard input.
    static func terminalGone() -> Bool {
        var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, 0) >= 0 else { return false }
        return descriptor.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0
    }

    private func attributes(_ tone: ScreenModel.Tone) -> Int32 {
        guard has_colors() else { return tone == .normal ? 0 : kiosk_attr_bold() }
        switch tone {
        case .normal: return 0
        case .good: return kiosk_color_pair(1) | kiosk_attr_bold()
        case .warning: return kiosk_color_pair(2) | kiosk_attr_bold()
        case .danger: return kiosk_color_pair(3) | kiosk_attr_bold()
        case .info: return kiosk_color_pair(4)
        }
    }

    private func draw(_ layout: Layout) {
        erase()
        let columns = Int(kiosk_cols())
        for item in layout.items {
            switch item {
            case let .text(row, column, text, tone, bold):
                attrset(attributes(tone) | (bold ? kiosk_attr_bold() : 0))
                mvaddstr(Int32(row), Int32(column), String(text.prefix(max(0, columns - column))))
            case let .bar(row, text, tone):
                attrset(kiosk_attr_reverse() | attributes(tone))
                let padded = text.count >= columns ? String(text.prefix(columns)) : text + String(repeating: " ", count: columns - text.count)
                mvaddstr(Int32(row), 0, padded)
            case let .box(row, column, height, width, label, tone):
                attrset(attributes(tone))
                let edge = "+" + String(repeating: "-", count: max(0, width - 2)) + "+"
                mvaddstr(Int32(row), Int32(column), edge)
                for inner in 1..<max(2, height - 1) {
                    mvaddstr(Int32(row + inner), Int32(column), "|" + String(repeating: " ", count: max(0, width - 2)) + "|")
                }
                mvaddstr(Int32(row + height - 1), Int32(column), edge)
                let text = String(label.prefix(max(0, width - 2)))
                attrset(attributes(tone) | kiosk_attr_bold())
                mvaddstr(Int32(row + height / 2), Int32(column + max(1, (width - text.count) / 2)), text)
            }
        }
        attrset(0)
        refresh()
    }
}
