// backupd web page: live run log, schedule preview, local times.
// Plain JavaScript, no build step; every page also works without it.
(function () {
  'use strict';
  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var sleep = function (ms) { return new Promise(function (r) { setTimeout(r, ms); }); };

  // Times: show them in the browser's zone, UTC in the tooltip.
  function localTimes(root) {
    (root || document).querySelectorAll('time[datetime]').forEach(function (el) {
      if (el.closest('#preview')) return; // previews are in the job's zone
      var d = new Date(el.getAttribute('datetime'));
      if (isNaN(d)) return;
      el.title = el.textContent;
      el.textContent = d.toLocaleString(undefined, {
        year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit'
      });
    });
  }

  function line(l) {
    var s = document.createElement('span');
    s.className = 'line lv-' + l.level;
    s.dataset.seq = l.seq;
    var t = document.createElement('span'); t.className = 't'; t.textContent = l.time || '';
    var lv = document.createElement('span'); lv.className = 'lv'; lv.textContent = l.level;
    s.append(t, ' ', lv, ' ', l.message);
    if (l.attrs) {
      Object.keys(l.attrs).sort().forEach(function (k) {
        var a = document.createElement('span'); a.className = 'attr'; a.textContent = k + '=' + l.attrs[k];
        s.append(' ', a);
      });
    }
    s.append('\n');
    return s;
  }

  function showRun(run) {
    var st = $('#status');
    st.textContent = run.status;
    st.className = 'badge st-' + run.status;
    $('#reason').textContent = run.reason || '';
    $('#bytes').textContent = run.bytes_text;
    if (run.final) {
      var f = $('#finished');
      f.textContent = '';
      if (run.finished_at) {
        var t = document.createElement('time');
        t.setAttribute('datetime', run.finished_at);
        t.textContent = run.finished_at;
        f.append(t, ' (' + run.duration + ')');
        localTimes(f);
      }
      var live = $('#live');
      if (live) live.remove();
      document.getElementById('run').dataset.final = 'true';
    }
    if (run.backup_id) {
      var b = $('#backup');
      b.textContent = '';
      var a = document.createElement('a');
      a.href = '/backups?job=' + encodeURIComponent(run.job);
      var c = document.createElement('code'); c.textContent = run.backup_id;
      a.append(c);
      b.append(a);
    }
  }

  // The live log: poll log.json with the last sequence number until the
  // run is final and every line has arrived.
  async function follow(el) {
    var id = el.dataset.run, after = Number(el.dataset.after) || 0, log = $('#log');
    var wait = 1000;
    for (;;) {
      var res;
      try {
        res = await fetch('/runs/' + encodeURIComponent(id) + '/log.json?after=' + after,
          { headers: { Accept: 'application/json' }, credentials: 'same-origin', cache: 'no-store' });
      } catch (e) {
        await sleep(3000);
        continue;
      }
      if (res.status === 401) { location.reload(); return; }
      if (!res.ok) { await sleep(3000); continue; }
      var j = await res.json();
      var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      j.lines.forEach(function (l) { log.append(line(l)); });
      after = j.last_seq;
      el.dataset.after = after;
      if (atBottom) log.scrollTop = log.scrollHeight;
      showRun(j.run);
      if (j.more) continue;
      if (j.run.final) return;
      await sleep(wait);
    }
  }

  // The schedule editor's live preview.
  function preview() {
    var expr = $('#expr'), tz = $('#tz'), out = $('#preview');
    var timer, seq = 0;
    async function update() {
      var my = ++seq;
      var q = '?expr=' + encodeURIComponent(expr.value) + '&tz=' + encodeURIComponent(tz.value);
      var res;
      try {
        res = await fetch('/schedules/preview.json' + q, { credentials: 'same-origin' });
      } catch (e) { return; }
      var j;
      try { j = await res.json(); } catch (e) { return; }
      if (my !== seq) return; // a newer request is on its way
      out.textContent = '';
      if (j.error) {
        var p = document.createElement('p');
        p.className = 'error'; p.id = 'preview-error'; p.setAttribute('role', 'alert');
        p.textContent = j.error;
        out.append(p);
      }
      var ol = document.createElement('ol');
      ol.id = 'preview-times';
      (j.times || []).forEach(function (t, i) {
        var li = document.createElement('li'), tm = document.createElement('time');
        tm.setAttribute('datetime', j.iso[i]); tm.textContent = t;
        li.append(tm); ol.append(li);
      });
      out.append(ol);
    }
    [expr, tz].forEach(function (el) {
      el.addEventListener('input', function () { clearTimeout(timer); timer = setTimeout(update, 250); });
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    localTimes();
    // A button that posts is pressed once.
    document.querySelectorAll('form[method=post]').forEach(function (f) {
      f.addEventListener('submit', function (ev) {
        if (f.dataset.sent) { ev.preventDefault(); return; }
        f.dataset.sent = '1';
      });
    });
    var run = document.getElementById('run');
    if (run) {
      var log = $('#log');
      log.scrollTop = log.scrollHeight;
      // A running run, or a long log the page showed only the start of.
      if (run.dataset.final !== 'true' || run.dataset.more === 'true') follow(run);
    }
    if ($('#schedule-form') && $('#expr')) preview();
  });
})();
