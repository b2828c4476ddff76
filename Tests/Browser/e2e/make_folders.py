"""Builds the folders the upload scenarios pick in the browser, from pydicom's real test files rewritten for the
registered patient as another facility would have written them (its own Patient ID and issuer), and prints a
manifest (JSON) the Swift test checks Orthanc against: per file its SOP Instance UID, study, SHA-256 of the whole
file and of its PixelData value.

    make_folders.py --pydicom-files DIR --out DIR --name "DOE^JANE" --birth-date 19700101 --seed S KIND...

KIND: disc   a patient disc: DICOMDIR (pydicom's FileSet), a CT study of two images and an MR study, a fake viewer
             (VIEWER/VIEWER.EXE, an inert MZ/PE header) and AUTORUN.INF
      other  a study of the patient and one of somebody else (another name and birth date)
      hostile  a polyglot (MZ/PE in the preamble), EICAR in a private element, a truncated file, and a clean image
      large  one multi-frame image of ~40 MB (for killing the edge mid-upload)
Needs pydicom on PYTHONPATH; the hostile files come from Tests/DicomPortalTests/Fixtures/hostile_upload.py."""

import argparse
import hashlib
import json
import os
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "DicomPortalTests" / "Fixtures"))
import pydicom  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.fileset import FileSet  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402
from hostile_upload import Fixtures  # noqa: E402

OTHER_FACILITY_ID = "EXT-4711"
OTHER_FACILITY = "ELSEWHERE GENERAL"
AUTORUN = b"[autorun]\r\nopen=VIEWER\\VIEWER.EXE\r\nicon=VIEWER\\VIEWER.EXE,0\r\n"


class PatientFixtures(Fixtures):
    """hostile_upload's fixtures, each rewritten for one patient and one study per call of `study`."""

    def __init__(self, work, pydicom_files, session, name, birth_date):
        super().__init__(work, pydicom_files, session)
        self.name, self.birth_date = name, birth_date
        self.study_label = "study"

    def dataset(self, source, label):
        ds = super().dataset(source, label)
        ds.PatientName = self.name
        ds.PatientBirthDate = self.birth_date
        ds.PatientID = OTHER_FACILITY_ID
        ds.IssuerOfPatientID = OTHER_FACILITY
        ds.StudyInstanceUID = self.uid("study/" + self.study_label)
        ds.SeriesInstanceUID = self.uid("series/" + self.study_label + "/" + source)
        ds.StudyID = "1"
        ds.AccessionNumber = ""
        return ds


def pixel_digest(ds):
    return hashlib.sha256(ds.PixelData).hexdigest() if "PixelData" in ds else None


def record(path, ds, folder, expect):
    data = path.read_bytes()
    return {"path": str(path.relative_to(folder)), "sopInstanceUID": str(ds.SOPInstanceUID),
            "studyInstanceUID": str(ds.StudyInstanceUID), "patientName": str(ds.PatientName),
            "fileSHA256": hashlib.sha256(data).hexdigest(), "pixelSHA256": pixel_digest(ds), "expect": expect}


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def inert_viewer():
    return Fixtures.inert_pe()


def disc(fixtures, folder):
    """Two studies through pydicom's FileSet (which lays the files out and writes DICOMDIR), then the bundled
    viewer and its autorun."""
    fileset = FileSet()
    datasets = []
    for study, sources, description in [("ct", ["CT_small.dcm", "CT_small.dcm"], "CT CHEST"), ("mr", ["MR_small.dcm"], "MR KNEE")]:
        fixtures.study_label = study
        for number, source in enumerate(sources, 1):
            ds = fixtures.dataset(source, f"{study}-{number}")
            ds.StudyDescription = description
            ds.InstanceNumber = number
            ds.SeriesNumber = 1
            datasets.append(ds)
            fileset.add(ds)
    fileset.write(folder)
    files = []
    for instance in fileset:
        ds = pydicom.dcmread(instance.path)
        files.append(record(Path(instance.path), ds, folder, "delivered"))
    write(folder / "VIEWER" / "VIEWER.EXE", inert_viewer())
    write(folder / "AUTORUN.INF", AUTORUN)
    return files


def other(fixtures, folder):
    files = []
    for study, source, name, birth, description, expect in [
            ("mine", "MR_small.dcm", fixtures.name, fixtures.birth_date, "MR SHOULDER", "either"),
            ("theirs", "CT_small.dcm", "ROE^RICHARD", "19551224", "CT HEAD", "held")]:
        fixtures.study_label = study
        ds = fixtures.dataset(source, study)
        ds.PatientName, ds.PatientBirthDate, ds.StudyDescription = name, birth, description
        path = folder / "DICOM" / study.upper() / "IM000001"
        write(path, fixtures.encode(ds))
        files.append(record(path, ds, folder, expect))
    return files


def hostile(fixtures, folder):
    fixtures.study_label = "hostile"
    files = []
    for name, build, expect in [("POLYGLOT.DCM", fixtures.preamble_pe, "changed"),
                                ("EICAR.DCM", fixtures.eicar_private, "changed"),
                                ("CONTROL.DCM", lambda: fixtures.plain("MR_small.dcm", "control"), "delivered")]:
        data, uid = build()
        path = folder / "DICOM" / name
        write(path, data)
        ds = pydicom.dcmread(path)
        files.append(record(path, ds, folder, expect))
    # Cut inside the pixel data, as a broken copy would be.
    data, uid = fixtures.plain("CT_small.dcm", "truncated")
    path = folder / "DICOM" / "TRUNC.DCM"
    write(path, data[: len(data) - 9000])
    files.append({"path": "DICOM/TRUNC.DCM", "sopInstanceUID": uid, "studyInstanceUID": fixtures.uid("study/hostile"),
                  "fileSHA256": hashlib.sha256(path.read_bytes()).hexdigest(), "pixelSHA256": None, "expect": "refused"})
    return files


def large(fixtures, folder, frames=80, size=512):
    """One multi-frame 16-bit secondary capture of frames × size² pixels (~40 MB for the defaults)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7.3"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = fixtures.uid("large")
    ds.StudyInstanceUID = fixtures.uid("large-study")
    ds.SeriesInstanceUID = fixtures.uid("large-series")
    ds.PatientName, ds.PatientBirthDate = fixtures.name, fixtures.birth_date
    ds.PatientID, ds.IssuerOfPatientID = OTHER_FACILITY_ID, OTHER_FACILITY
    ds.Modality, ds.ConversionType = "OT", "WSD"
    ds.StudyDate, ds.StudyTime, ds.StudyDescription, ds.StudyID = "20250102", "101500", "SCANNED FILMS", "1"
    ds.SeriesNumber, ds.InstanceNumber = 1, 1
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames, size, size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    # Deterministic, not compressible by much: frame-varying 12-bit noise.
    seed = hashlib.sha256(ds.SOPInstanceUID.encode()).digest()
    block = b"".join(hashlib.sha256(seed + struct.pack("<I", i)).digest() for i in range(2048))
    block = bytes(b & (0x0F if i % 2 else 0xFF) for i, b in enumerate(block))
    pixels = bytearray()
    for frame in range(frames):
        rotation = (frame * 997) % len(block)
        rotated = block[rotation:] + block[:rotation]
        pixels += (rotated * (size * size * 2 // len(rotated) + 1))[: size * size * 2]
    ds.PixelData = bytes(pixels)
    ds["PixelData"].VR = "OW"
    path = folder / "SCANS" / "FILMS.DCM"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return [record(path, ds, folder, "delivered")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pydicom-files", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--birth-date", required=True)
    parser.add_argument("--seed", required=True)
    parser.add_argument("kinds", nargs="+", choices=["disc", "other", "hostile", "large"])
    args = parser.parse_args()
    manifest = {}
    for kind in args.kinds:
        folder = args.out / kind
        folder.mkdir(parents=True, exist_ok=True)
        fixtures = PatientFixtures(str(args.out / ".work"), args.pydicom_files, f"{args.seed}/{kind}", args.name, args.birth_date)
        manifest[kind] = {"folder": str(folder), "files": globals()[kind](fixtures, folder)}
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
