// Groups a disc's images into studies and series and compares their patient with the signed-in one.

// DICOM PN → comparable form: the alphabetic group only, components split on "^", spacing and case
// ignored, empty trailing components dropped; family name first, the rest in any order.
export function nameKey(pn) {
  const alphabetic = (pn || '').split('=')[0];
  const parts = alphabetic.split('^').map((part) => part.replace(/\s+/g, ' ').trim().toLowerCase());
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0) return '';
  const [family, ...rest] = parts;
  return [family, ...rest.filter((part) => part !== '').sort()].join('^');
}

export function namesMatch(a, b) {
  return nameKey(a) === nameKey(b);
}

export function readableName(pn) {
  const alphabetic = (pn || '').split('=')[0];
  const parts = alphabetic.split('^').map((part) => part.trim()).filter((part) => part !== '');
  if (parts.length <= 1) return parts.join('');
  const [family, given, ...rest] = parts;
  return [given, ...rest.slice(0, 1), family].join(' ');
}

// images: classified entries with a header. patient: /api/session patient ({ name, birthDate }).
// Returns studies newest first: { key, uid, date, description, modalities, images, bytes, series,
// names, birthDates, patientMatches, unreadable, files }.
export function groupStudies(images, patient) {
  const studies = new Map();
  for (const image of images) {
    const fields = (image.header && image.header.fields) || {};
    const unreadable = !fields.StudyInstanceUID;
    const key = unreadable ? '\u0000unreadable' : fields.StudyInstanceUID;
    let study = studies.get(key);
    if (!study) {
      study = {
        key, uid: unreadable ? '' : fields.StudyInstanceUID, unreadable,
        date: '', description: '', modalities: new Set(), images: 0, bytes: 0,
        series: new Map(), names: new Set(), birthDates: new Set(), files: [],
      };
      studies.set(key, study);
    }
    study.images += 1;
    study.bytes += image.size;
    study.files.push(image);
    if (!study.date && fields.StudyDate) study.date = fields.StudyDate;
    if (!study.description && fields.StudyDescription) study.description = fields.StudyDescription;
    if (fields.Modality) study.modalities.add(fields.Modality);
    if (fields.PatientName) study.names.add(fields.PatientName);
    if (fields.PatientBirthDate) study.birthDates.add(fields.PatientBirthDate.trim());
    const seriesKey = fields.SeriesInstanceUID || '';
    let series = study.series.get(seriesKey);
    if (!series) {
      series = { uid: seriesKey, description: fields.SeriesDescription || '', modality: fields.Modality || '', images: 0, bytes: 0 };
      study.series.set(seriesKey, series);
    }
    series.images += 1;
    series.bytes += image.size;
  }
  const list = [];
  for (const study of studies.values()) {
    const otherNames = patient ? [...study.names].filter((name) => !namesMatch(name, patient.name)) : [];
    const otherDates = patient ? [...study.birthDates].filter((date) => date !== patient.birthDate) : [];
    list.push({
      ...study,
      modalities: [...study.modalities].sort(),
      series: [...study.series.values()],
      otherNames,
      otherDates,
      patientMatches: otherNames.length === 0 && otherDates.length === 0,
    });
  }
  list.sort((a, b) => (a.unreadable - b.unreadable) || b.date.localeCompare(a.date) || a.description.localeCompare(b.description));
  return list;
}
