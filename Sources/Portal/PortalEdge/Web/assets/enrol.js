// Enrolment from the invitation link: birth date → password → passkey or authenticator app →
// recovery codes → signed in. The token travels in the fragment and is posted, never put in a URL.
import { t } from './i18n.js';
import { post, getSession, isSignedOut } from './api.js';
import { boot, showStep, showError, clearError, setBusy, go, el, $ } from './ui.js';
import { qrSvg } from './qr.js';
import { createPasskey, passkeyCeremony, passkeysAvailable } from './webauthn.js';

const PASSWORD_FIELDS = {
  'password.too-short': 'new-password',
  'password.too-long': 'new-password',
  'password.common': 'new-password',
  'password.context': 'new-password',
  'password.repetitive': 'new-password',
  'password.mismatch': 'confirm-password',
};

let patient = null;

function invalid(error) {
  $('#invalid-text').textContent = t(error && error.code === 'birth-date.locked' ? 'error.birth-date.locked' : 'error.invitation.invalid');
  showStep('step-invalid');
}

function goToStep(step) {
  if (step === 'birth-date') return showStep('step-birth-date');
  if (step === 'password') {
    if (patient) $('#password-welcome').textContent = t('enrol.password.welcome', { name: patient.displayName });
    if (patient && patient.email) $('#username').value = patient.email;
    return showStep('step-password');
  }
  if (step === 'second-factor') {
    $('#passkey-choice').hidden = !passkeysAvailable();
    return showStep('step-second-factor');
  }
  // Recovery codes are shown once, by the finish response; a reload at this step cannot show them again.
  if (step === 'recovery-codes') return showCodes(null);
  return showStep('step-birth-date');
}

async function attempt(button, region, action) {
  clearError(region);
  setBusy(button, true);
  try {
    await action();
  } catch (error) {
    if (error && (error.code === 'invitation.invalid' || error.code === 'birth-date.locked')) invalid(error);
    else if (isSignedOut(error)) invalid({ code: 'invitation.invalid' });
    else showError(region, error);
  } finally {
    setBusy(button, false);
  }
}

function birthDateValue() {
  const day = $('#birth-day').value.trim();
  const month = $('#birth-month').value.trim();
  const year = $('#birth-year').value.trim();
  if (!/^\d{1,2}$/.test(day) || !/^\d{1,2}$/.test(month) || !/^\d{4}$/.test(year)) return null;
  const d = Number(day);
  const m = Number(month);
  const y = Number(year);
  const date = new Date(Date.UTC(y, m - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) return null;
  if (date.getTime() > Date.now()) return null;
  return `${year}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

function clearFieldErrors() {
  for (const id of ['new-password', 'confirm-password']) {
    const input = document.getElementById(id);
    input.removeAttribute('aria-invalid');
    input.setAttribute('aria-describedby', id === 'new-password' ? 'password-rules' : '');
    const message = document.getElementById(`${id}-error`);
    message.hidden = true;
    message.textContent = '';
  }
}

function fieldError(id, text) {
  const input = document.getElementById(id);
  const message = document.getElementById(`${id}-error`);
  message.textContent = text;
  message.hidden = false;
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', `${id}-error${id === 'new-password' ? ' password-rules' : ''}`);
}

function showSecret(secret) {
  const groups = secret.replace(/\s+/g, '').match(/.{1,4}/g) || [];
  $('#totp-secret').textContent = groups.join(' ');
}

function showCodes(codes) {
  const list = $('#recovery-codes');
  list.replaceChildren();
  if (codes) for (const code of codes) list.append(el('li', { text: code }));
  else list.append(el('li', { text: t('enrol.codes.alreadyShown') }));
  showStep('step-recovery-codes');
}

async function start() {
  const session = await boot();
  const match = /(?:^#|&)token=([A-Za-z0-9_-]{10,100})/.exec(window.location.hash);
  // Drop the token from the address bar and history straight away.
  if (window.location.hash) history.replaceState(null, '', window.location.pathname);
  if (match) {
    try {
      const body = await post('/api/enrol/start', { token: match[1] });
      return goToStep(body.enrolment.step);
    } catch (error) {
      return invalid(error);
    }
  }
  if (session.state === 'enrolling' && session.enrolment) {
    patient = session.patient;
    return goToStep(session.enrolment.step);
  }
  if (session.state === 'signed-in') return go('/home.html');
  return invalid({ code: 'invitation.invalid' });
}

function wire() {
  $('#birth-date-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const region = $('#birth-date-error');
    const birthDate = birthDateValue();
    if (!birthDate) {
      showError(region, t('enrol.birthDate.invalid'));
      $('#birth-day').focus();
      return;
    }
    attempt($('#birth-date-submit'), region, async () => {
      const body = await post('/api/enrol/birth-date', { birthDate });
      patient = body.patient || (await getSession()).patient;
      goToStep(body.enrolment ? body.enrolment.step : 'password');
    });
  });

  $('#show-password').addEventListener('change', (event) => {
    const type = event.target.checked ? 'text' : 'password';
    $('#new-password').type = type;
    $('#confirm-password').type = type;
  });

  $('#password-form').addEventListener('submit', (event) => {
    event.preventDefault();
    clearFieldErrors();
    const region = $('#password-error');
    const password = $('#new-password').value;
    const confirmation = $('#confirm-password').value;
    if (!password) {
      fieldError('new-password', t('enrol.password.missing'));
      $('#new-password').focus();
      return;
    }
    if (password !== confirmation) {
      fieldError('confirm-password', t('error.password.mismatch'));
      showError(region, t('error.password.mismatch'));
      $('#confirm-password').focus();
      return;
    }
    attempt($('#password-submit'), region, async () => {
      try {
        const body = await post('/api/enrol/password', { password, confirmation });
        $('#new-password').value = '';
        $('#confirm-password').value = '';
        goToStep(body.enrolment ? body.enrolment.step : 'second-factor');
      } catch (error) {
        const field = error && PASSWORD_FIELDS[error.code];
        if (field) {
          fieldError(field, t(`error.${error.code}`));
          document.getElementById(field).focus();
        }
        throw error;
      }
    });
  });

  $('#totp-button').addEventListener('click', () => {
    attempt($('#totp-button'), $('#factor-error'), async () => {
      const body = await post('/api/enrol/totp/begin');
      const holder = $('#qr-holder');
      holder.replaceChildren(qrSvg(body.uri, t('enrol.totp.qrLabel')));
      showSecret(body.secret);
      showStep('step-totp');
    });
  });

  $('#totp-back').addEventListener('click', () => goToStep('second-factor'));

  $('#totp-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const region = $('#totp-error');
    const code = $('#totp-code').value.replace(/\s+/g, '');
    if (!/^\d{6}$/.test(code)) {
      showError(region, t('signin.totp.invalid'));
      $('#totp-code').focus();
      return;
    }
    attempt($('#totp-submit'), region, async () => {
      const body = await post('/api/enrol/totp/finish', { code });
      showCodes(body.recoveryCodes);
    });
  });

  $('#passkey-button').addEventListener('click', () => {
    attempt($('#passkey-button'), $('#factor-error'), async () => {
      const body = await passkeyCeremony(post, '/api/enrol/passkey', createPasskey);
      showCodes(body.recoveryCodes);
    });
  });

  $('#codes-print').addEventListener('click', () => window.print());

  $('#codes-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const region = $('#codes-error');
    if (!$('#codes-saved').checked) {
      showError(region, t('enrol.codes.notConfirmed'));
      $('#codes-saved').focus();
      return;
    }
    attempt($('#codes-submit'), region, async () => {
      await post('/api/enrol/done');
      go('/home.html');
    });
  });
}

wire();
start();
// A second invitation link opened in this tab changes only the fragment: start again from it.
window.addEventListener('hashchange', () => {
  if (/token=/.test(window.location.hash)) window.location.reload();
});
