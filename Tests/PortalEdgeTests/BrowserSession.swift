import PortalTestSupport

extension EdgeTestServer: BrowserSite {
    var browserURL: String { origin }
}

/// A browser on the patients' page (`TestBrowser`).
typealias BrowserSession = TestBrowser<EdgeTestServer>

extension TestBrowser where Site == EdgeTestServer {
    var edge: EdgeTestServer { site }
}
