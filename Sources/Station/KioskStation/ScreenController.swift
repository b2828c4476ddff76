import Credentials
import AuditTrail
import Foundation
import IngestPipeline
import OperatorAccess
import OperatorScreen
import SessionReceipt
import SessionReport

/// What the operator sees and does: sign-in (name, PIN, TOTP code; keypad for touch), then the
/// session's screens built from the session machine's state. Pure logic on values: the service
/// feeds it inputs and ticks and carries out the machine events it returns; tests drive it directly.
public struct ScreenController {
    public enum SignInStep: Equatable { case name, pin, code }

    public let operators: OperatorStore
    public let idleTimeout: Double
    /// "the PACS" or "the local archive", for the words on the review and done screens.
    public var destinationName = "the PACS"
    public private(set) var signedIn: String?
    private var lastActivity = Date()
    private var step = SignInStep.name
    private var name = "", pin = "", code = ""
    private var message: ScreenModel.Line?
    /// The patient ID being typed or scanned on the confirmation screen.
    private var typed = ""
    /// A patient picked from the list, waiting for the explicit "yes".
    private var picked: SessionMachine.Patient?
    /// Sign-in events for the audit trail, taken by the service after each input.
    public var audit: [(type: AuditEventType, actor: String, details: [String: String])] = []
    /// No operator is configured: the screen asks IT to add one instead of offering a sign-in nobody can pass.
    public private(set) var hasNoOperator = false

    public init(operators: OperatorStore, idleTimeout: Double) {
        self.operators = operators
        self.idleTimeout = idleTimeout
    }

    /// Reads the operator store again (the service does while it has none, so one added with
    /// `kiosk-agent operator add` makes the screen usable without a restart).
    public mutating func checkOperators() {
        hasNoOperator = (try? operators.list().isEmpty) ?? false
    }

    // MARK: input

    /// Handles one input; returns the session events it means.
    public mutating func input(_ input: ScreenInput, state: SessionMachine.State, now: Date = Date()) -> [SessionMachine.Event] {
        lastActivity = now
        guard let operatorName = signedIn else {
            if !hasNoOperator { signInInput(input, now: now) }
            return []
        }
        if case .button("signout") = input {
            audit.append((.operatorSignOut, operatorName, [:]))
            signOut("Signed out.")
            return []
        }
        switch state {
        case let .confirmingPatient(_, found, mismatch):
            return confirmInput(input, found: found, mismatch: mismatch, operatorName: operatorName)
        case .reviewing:
            if case .button("send") = input { return [.reviewAccepted] }
            if case .button("cancel") = input { return [.cancel] }
        case .done, .spooled, .unreadable, .removedMidRead, .heldForReview:
            if case .button("finish") = input { return [.acknowledged] }
        case .awaitingRemoval:
            if case .button("again") = input { return [.readAgain] }
        default:
            break
        }
        return []
    }

    private mutating func signInInput(_ input: ScreenInput, now: Date) {
        func append(_ character: Character) {
            switch step {
            case .name: if name.count < 64 { name.append(character) }
            case .pin: if character.isNumber, pin.count < 12 { pin.append(character) }
            case .code: if character.isNumber, code.count < 8 { code.append(character) }
            }
        }
        switch input {
        case let .character(character): append(character)
        case let .button(id) where id.hasPrefix("key:") && id != "key:back": append(Character(String(id.dropFirst(4))))
        case .backspace, .button("key:back"):
            switch step {
            case .name: _ = name.popLast()
            case .pin: _ = pin.popLast()
            case .code: _ = code.popLast()
            }
        case .submit, .button("next"):
            switch step {
            case .name where !name.isEmpty: step = .pin; message = nil
            case .pin where pin.count >= 6: step = .code
            case .code where code.count == 6: attemptSignIn(now: now)
            default: break
            }
        case .button("restart"):
            signOut(nil)
        default: break
        }
    }

    private mutating func attemptSignIn(now: Date) {
        let result = (try? operators.signIn(name, pin: pin, code: code, now: now)) ?? .denied
        switch result {
        case let .signedIn(who):
            signedIn = who
            message = nil
            audit.append((.operatorSignIn, who, [:]))
        case .denied:
            audit.append((.operatorSignInFailed, name, [:]))
            signOut("Sign-in failed. Check the name, PIN and code, then try again.")
        case let .locked(until):
            audit.append((.operatorLocked, name, ["until": ISO8601DateFormatter().string(from: until)]))
            let format = DateFormatter()
            format.dateFormat = "HH:mm"
            signOut("Too many failed attempts: this operator is locked until \(format.string(from: until)). IT can unlock it.")
        }
    }

    private mutating func signOut(_ text: String?) {
        signedIn = nil
        step = .name
        name = ""; pin = ""; code = ""; typed = ""; picked = nil
        message = text.map { ScreenModel.Line($0, .warning) }
    }

    private mutating func confirmInput(_ input: ScreenInput, found: [SessionMachine.Patient], mismatch: SessionMachine.Confirmation?,
                                       operatorName: String) -> [SessionMachine.Event] {
        if let mismatch {
            // Second confirmation for a patient ID that is not on the media: a recorded reason.
            let reasons = ScreenController.mismatchReasons
            if case let .button(id) = input, id.hasPrefix("reason:"), let index = Int(id.dropFirst(7)), reasons.indices.contains(index) {
                var confirmed = mismatch
                confirmed.mismatchReason = "\(reasons[index]) (confirmed by operator \(operatorName))"
                typed = ""
                return [.patientConfirmed(confirmed)]
            }
            if case .button("cancel") = input { typed = ""; return [.cancel] }
            return []
        }
        if let patient = picked {
            switch input {
            case .button("yes"):
                picked = nil
                typed = ""
                return [.patientConfirmed(SessionMachine.Confirmation(patientID: patient.id, patientName: patient.name,
                                                                      birthDate: patient.birthDate.isEmpty ? nil : patient.birthDate))]
            case .button("no"): picked = nil
            default: break
            }
            return []
        }
        switch input {
        case let .character(character): if typed.count < 64 { typed.append(character) }
        case .backspace: _ = typed.popLast()
        case let .button(id) where id.hasPrefix("patient:"):
            if let index = Int(id.dropFirst(8)), found.indices.contains(index) { picked = found[index] }
        case .submit:
            // A typed or scanned ID: the patient found under it (asked to confirm), or the mismatch path.
            let id = typed.trimmingCharacters(in: .whitespaces)
            guard !id.isEmpty else { break }
            if let match = found.first(where: { $0.id == id }) {
                picked = match
            } else {
                typed = ""
                return [.patientConfirmed(SessionMachine.Confirmation(patientID: id))]
            }
        case .button("cancel"): typed = ""; return [.cancel]
        default: break
        }
        return []
    }

    public static let mismatchReasons = ["The patient's name or ID changed", "The ID is from another hospital", "Verified with the patient's photo ID"]

    /// Idle timeout: back to the sign-in screen when nobody touched anything and no step runs.
    public mutating func tick(state: SessionMachine.State, now: Date = Date()) -> Bool {
        guard let who = signedIn, !state.isBusy, now.timeIntervalSince(lastActivity) >= idleTimeout else { return false }
        audit.append((.operatorSignOut, who, ["reason": "idle timeout"]))
        signOut("Signed out after \(Int(idleTimeout / 60)) minute(s) without activity.")
        return true
    }

    // MARK: what to show

    public func model(state: SessionMachine.State, status: String, started: Date?, now: Date = Date()) -> ScreenModel {
        guard let operatorName = signedIn else { return hasNoOperator ? setupModel(status: status) : signInModel(status: status) }
        let bar = "Operator: \(operatorName)  |  \(status)"
        var model: ScreenModel
        switch state {
        case .idle:
            model = ScreenModel(title: "Ready", tone: .good,
                                lines: [.init("Insert the patient's disc or USB stick.", .normal),
                                        .init("Programs, autorun files and anything that is not a medical image are never opened or copied.", .info)])
        case .mediaDetected, .reading:
            model = ScreenModel(title: "Reading the disc", tone: .info, lines: [.init("Looking for the patient's images. Please wait.")],
                                progress: ScreenController.progress(state, started: started, now: now))
        case let .confirmingPatient(_, found, mismatch):
            model = confirmModel(found: found, mismatch: mismatch)
        case .protecting:
            model = ScreenModel(title: "Checking every image", tone: .info,
                                lines: [.init("Each file is taken apart, scanned for threats and rebuilt clean.")],
                                progress: ScreenController.progress(state, started: started, now: now))
        case let .reviewing(_, _, outcome):
            model = ScreenModel(title: "Check complete", tone: outcome.rejected > 0 ? .warning : .good,
                                lines: ScreenController.summary(outcome) + outcome.findings.prefix(6).map { .init("- " + ScreenController.explain($0), .info) },
                                buttons: [.init(id: "send", label: destinationName == "the PACS" ? "Send to the PACS" : "Save to \(destinationName)", key: "Enter", tone: .good),
                                          .init(id: "cancel", label: "Cancel", key: "Esc", tone: .warning)])
        case .delivering:
            model = ScreenModel(title: "Sending to \(destinationName)", tone: .info, lines: [.init("Sending the clean images.")],
                                progress: ScreenController.progress(state, started: started, now: now))
        case let .done(medium, outcome, _):
            let what = ScreenController.noun(medium)
            let nothing = outcome.instances == outcome.rejected
            let done: ScreenModel.Line = nothing
                ? .init("Nothing was imported. Please give the \(what) back to the patient.", .warning)
                : .init("All images are in \(destinationName). Please give the \(what) back to the patient.", .good)
            model = ScreenModel(title: "Done", tone: nothing ? .warning : .good,
                                lines: ScreenController.summary(outcome) + [done] + ScreenController.receipt(outcome),
                                buttons: [.init(id: "finish", label: "Finish", key: "Enter", tone: .good)])
        case let .spooled(medium, outcome, pending):
            model = ScreenModel(title: "Saved - will be sent later", tone: .warning,
                                lines: ScreenController.summary(outcome)
                                    + [.init("The PACS cannot be reached right now. \(pending) image(s) are saved safely and will be sent automatically.", .warning),
                                       .init("The \(ScreenController.noun(medium)) can be given back to the patient.")]
                                    + ScreenController.receipt(outcome),
                                buttons: [.init(id: "finish", label: "Finish", key: "Enter", tone: .good)])
        case let .unreadable(_, reason):
            model = ScreenModel(title: "This disc cannot be read", tone: .danger,
                                lines: [.init("Nothing was imported. Give the disc back and ask for another copy.", .danger),
                                        .init("Details for IT: \(reason)", .info)],
                                buttons: [.init(id: "finish", label: "OK", key: "Enter")])
        case .removedMidRead:
            model = ScreenModel(title: "The disc was removed too early", tone: .danger,
                                lines: [.init("Nothing from this disc was sent. Insert it again to start over.", .danger)],
                                buttons: [.init(id: "finish", label: "OK", key: "Enter")])
        case let .heldForReview(_, outcome):
            model = ScreenModel(title: "Held for review", tone: .warning,
                                lines: ScreenController.summary(outcome)
                                    + [.init("The images do not belong to the patient you confirmed. Nothing was sent; IT will review them.", .warning)]
                                    + ScreenController.receipt(outcome),
                                buttons: [.init(id: "finish", label: "OK", key: "Enter")])
        case let .awaitingRemoval(medium, cancelled):
            let what = ScreenController.noun(medium)
            let place = medium.kind == .usb ? "still plugged in" : "still in the drive"
            model = ScreenModel(title: "Remove the \(what)", tone: .warning,
                                lines: (cancelled ? [.init("Cancelled: nothing from this \(what) was sent.", .warning)] : [])
                                    + [.init("\(what.prefix(1).uppercased() + what.dropFirst()) \(place) - remove it and give it back to the patient, or start again to read it once more.")],
                                buttons: [.init(id: "again", label: "Start again", tone: .info)])
        }
        model.status = bar
        if case .confirmingPatient = state {} else if !state.isBusy {
            model.buttons.append(.init(id: "signout", label: "Sign out", tone: .normal))
        }
        return model
    }

    /// No operator exists yet: nobody can sign in, and the screen says who must act and how.
    private func setupModel(status: String) -> ScreenModel {
        ScreenModel(title: "Not set up yet: no operator", tone: .warning,
                    lines: [.init("Nobody can sign in on this kiosk yet, because no operator has been added.", .warning),
                            .init("IT: on this computer, run   kiosk-agent operator add NAME", .info),
                            .init("This screen changes to the sign-in by itself a few seconds after the first operator is added.")],
                    status: status)
    }

    private func signInModel(status: String) -> ScreenModel {
        var lines: [ScreenModel.Line] = [.init("Sign in to import a patient's images.")]
        if let message { lines.append(message) }
        let field: ScreenModel.Field = switch step {
        case .name: .init(label: "Operator name (type it or scan your badge), then Enter:", value: name)
        case .pin: .init(label: "PIN for \(name):", value: pin, masked: true)
        case .code: .init(label: "6-digit code from your authenticator app:", value: code, masked: false)
        }
        var buttons: [ScreenModel.Button] = [.init(id: "next", label: "Next", tone: .good)]
        if step != .name { buttons.append(.init(id: "restart", label: "Start over", tone: .warning)) }
        return ScreenModel(title: "kiosk-agent - sign in", tone: .info, lines: lines, field: field, buttons: buttons,
                           keypad: step != .name, status: status)
    }

    private func confirmModel(found: [SessionMachine.Patient], mismatch: SessionMachine.Confirmation?) -> ScreenModel {
        if let mismatch {
            let names = found.map { "\(ScreenController.display($0.name)) (ID \($0.id))" }.joined(separator: ", ")
            return ScreenModel(title: "Patient ID not on this disc", tone: .danger,
                               lines: [.init("The ID \(mismatch.patientID) is not on this disc.", .danger),
                                       .init(found.isEmpty ? "The disc holds no patient information." : "The disc holds: \(names).", .normal),
                                       .init("Import anyway only if you are sure, and say why (it is recorded):", .warning)],
                               buttons: ScreenController.mismatchReasons.enumerated().map { .init(id: "reason:\($0.offset)", label: $0.element, tone: .warning) }
                                   + [.init(id: "cancel", label: "Cancel", key: "Esc", tone: .normal)])
        }
        if let picked {
            return ScreenModel(title: "Confirm the patient", tone: .warning,
                               lines: [.init("Import these images for:"),
                                       .init("\(ScreenController.display(picked.name))   ID \(picked.id)   born \(ScreenController.date(picked.birthDate))", .info),
                                       .init("\(picked.studies) study(ies) on the disc.")],
                               buttons: [.init(id: "yes", label: "Yes, import", key: "Enter", tone: .good),
                                         .init(id: "no", label: "No", key: "Esc", tone: .warning)])
        }
        var lines: [ScreenModel.Line] = [.init(found.isEmpty ? "No patient information was found on this disc." : "Patients on this disc:")]
        lines += found.prefix(9).enumerated().map { index, patient in
            .init("\(index + 1). \(ScreenController.display(patient.name))  ID \(patient.id)  born \(ScreenController.date(patient.birthDate))  \(patient.studies) study(ies)")
        }
        if found.count > 1 { lines.append(.init("More than one patient is on this disc: only the one you confirm is imported.", .warning)) }
        return ScreenModel(title: "Who are these images for?", tone: .info, lines: lines,
                           field: .init(label: "Scan or type the patient ID from the desk, then Enter (or touch a patient):", value: typed),
                           buttons: found.prefix(9).enumerated().map { .init(id: "patient:\($0.offset)", label: ScreenController.display($0.element.name), tone: .info) }
                               + [.init(id: "cancel", label: "Cancel", key: "Esc", tone: .warning)])
    }

    // MARK: words

    public static func summary(_ outcome: SessionMachine.Outcome) -> [ScreenModel.Line] {
        guard outcome.instances > 0 else {
            var lines = [ScreenModel.Line("No images (DICOM files) were found on this disc.", .warning)]
            if outcome.discarded > 0 { lines.append(.init("\(outcome.discarded) other file(s) (programs, viewers, documents) were left out.", .info)) }
            return lines
        }
        var lines = [ScreenModel.Line("\(outcome.instances) image file(s) checked: \(outcome.clean) clean, \(outcome.disarmed) cleaned, \(outcome.rejected) refused.")]
        // "cleaned" alone reads like a threat: most of it is the routine clean-up of vendor data.
        if let routine = outcome.cleanup.routineSentence { lines.append(.init(routine + ".", .good)) }
        if outcome.cleanup.forCause > 0 {
            lines.append(.init("\(outcome.cleanup.forCause) image(s): something unsafe or broken was removed (see below).", .warning))
        }
        if outcome.discarded > 0 { lines.append(.init("\(outcome.discarded) other file(s) (programs, viewers, documents) were left out.", .info)) }
        if outcome.rejected > 0 { lines.append(.init("Refused files are kept aside for IT and are not sent.", .warning)) }
        return lines
    }

    /// The receipt's lookup code, for when no printer hands the receipt over.
    public static func receipt(_ outcome: SessionMachine.Outcome) -> [ScreenModel.Line] {
        guard let code = outcome.lookupCode else { return [] }
        return [.init("Receipt code: \(code) - `kiosk-agent receipt show \(code)`", .info)]
    }

    /// "disc" or "USB stick", as the operator holds it.
    public static func noun(_ medium: SessionMachine.Medium) -> String { medium.kind == .usb ? "USB stick" : "disc" }

    /// Findings in plain words for the front desk (the report keeps the technical detail); the
    /// receipt uses the same words. The session's outcome carries the codes as the report spells them.
    public static func explain(_ code: String) -> String { FindingWording.explain(FindingCode(rawValue: code)) }

    public static func display(_ name: String) -> String {
        let parts = name.split(separator: "=").first.map { $0.split(separator: "^", omittingEmptySubsequences: false) } ?? []
        guard parts.count > 1 else { return name }
        return "\(parts[0]), \(parts[1...].filter { !$0.isEmpty }.joined(separator: " "))"
    }

    public static func date(_ yyyymmdd: String) -> String {
        guard yyyymmdd.count == 8 else { return yyyymmdd.isEmpty ? "?" : yyyymmdd }
        let d = Array(yyyymmdd)
        return "\(String(d[0..<4]))-\(String(d[4..<6]))-\(String(d[6..<8]))"
    }

    public static func progress(_ state: SessionMachine.State, started: Date?, now: Date) -> ScreenModel.Progress? {
        let progress: SessionMachine.Progress
        switch state {
        case let .reading(_, p), let .protecting(_, _, p), let .delivering(_, _, _, p): progress = p
        default: return ScreenModel.Progress(fraction: 0, label: "starting")
        }
        let fraction = progress.totalBytes > 0 ? Double(progress.bytes) / Double(progress.totalBytes)
            : progress.totalFiles > 0 ? Double(progress.files) / Double(progress.totalFiles) : 0
        var label = "\(progress.files) of \(progress.totalFiles) files, \(progress.bytes / 1_000_000) of \(progress.totalBytes / 1_000_000) MB"
        if let started, fraction > 0.02, fraction < 1 {
            let remaining = now.timeIntervalSince(started) * (1 - fraction) / fraction
            label += ", about \(Int(remaining.rounded(.up))) s left"
        }
        return ScreenModel.Progress(fraction: fraction, label: label)
    }
}
