public enum UID {
    /// Digit components separated by dots, none empty, at most 64 characters: a UID every system
    /// can store and send, and safe as a file name. It may still break PS3.5 §9.1 by a zero-led
    /// component (`1.2.03.4`, as some real RT systems write): see `isValid`.
    public static func isUsable(_ uid: String) -> Bool {
        guard !uid.isEmpty, uid.utf8.count <= 64 else { return false }
        for component in uid.split(separator: ".", omittingEmptySubsequences: false) {
            guard !component.isEmpty, component.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
        }
        return true
    }

    /// PS3.5 §9.1: digit components separated by dots, no empty or zero-led components, at most
    /// 64 characters. Also what makes a UID safe to use as a file name.
    public static func isValid(_ uid: String) -> Bool {
        guard !uid.isEmpty, uid.utf8.count <= 64 else { return false }
        for component in uid.split(separator: ".", omittingEmptySubsequences: false) {
            guard !component.isEmpty, component.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return false }
            if component.count > 1 && component.first == "0" { return false }
        }
        return true
    }
}
