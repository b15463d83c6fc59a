// tagrelay console: live updates over one server-sent-event stream per page, the confirm
// dialogs, the overview's quick filter and the log follow. Every text from the server that is
// not a fragment the server rendered (and escaped) is inserted with textContent.
(function () {
  'use strict';
  var body = document.body;
  var source = null;
  var maxLogLines = 5000;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // fragment parses HTML the server rendered (html/template escaped it) into an element.
  function fragment(html) {
    var t = document.createElement('template');
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }

  function setLive(on) {
    var el = $('#live');
    if (!el) { return; }
    el.classList.toggle('on', on);
    el.textContent = on ? 'live' : 'offline';
  }

  // connect opens the page's one stream (closing any other).
  function connect(url) {
    if (source) { source.close(); }
    source = new EventSource(url);
    source.addEventListener('hello', function () { setLive(true); });
    source.addEventListener('app', function (e) { if (e.data) { onApp(e.data); } });
    source.addEventListener('log', function (e) { onLog(JSON.parse(e.data)); });
    source.addEventListener('logend', function (e) { onLogEnd(e.data); });
    source.addEventListener('reload', function () { location.reload(); });
    source.onerror = function () { setLive(false); };
  }

  // onApp replaces the row (overview) or the header (app page) of an app whose state changed,
  // and refreshes the tree of an open app page.
  function onApp(html) {
    var el = fragment(html);
    if (!el || !el.id) { return; }
    var old = document.getElementById(el.id);
    if (!old) { return; }
    old.replaceWith(el);
    relativeTimes(el);
    if (el.classList.contains('app')) { applyFilter(); return; }
    var tree = $('#tree');
    if (tree) { refreshTree(tree); }
  }

  function refreshTree(tree) {
    var q = new URLSearchParams(location.search);
    q.set('fragment', 'tree');
    fetch(location.pathname + '?' + q.toString(), { credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) { tree.replaceWith(fragment(html)); } });
  }

  // Overview quick filter: hides rows whose name, images and tags do not contain the text.
  function applyFilter() {
    var input = $('#filter');
    if (!input) { return; }
    var q = input.value.trim().toLowerCase();
    var shown = 0;
    $$('#apps tbody').forEach(function (tb) {
      var any = false;
      $$('tr.app', tb).forEach(function (tr) {
        var hit = !q || tr.textContent.toLowerCase().indexOf(q) >= 0;
        tr.hidden = !hit;
        if (hit) { any = true; shown++; }
      });
      tb.hidden = !any;
    });
    var el = $('#shown');
    if (el) {
      if (!el.dataset.all) { el.dataset.all = el.textContent; }
      el.textContent = q ? shown + ' match “' + input.value.trim() + '”' : el.dataset.all;
    }
  }

  // Confirm dialogs: a[data-dialog] loads the action's confirmation into the page's dialog.
  function openDialog(href) {
    var dlg = $('#dialog');
    var box = $('.dialog-body', dlg);
    box.textContent = '';
    var wait = document.createElement('p');
    wait.className = 'loading';
    wait.textContent = 'Loading… (a sync runs a dry run first)';
    box.appendChild(wait);
    dlg.showModal();
    var url = href + (href.indexOf('?') >= 0 ? '&' : '?') + 'fragment=dialog';
    fetch(url, { credentials: 'same-origin' }).then(function (r) {
      return r.text().then(function (t) { return { ok: r.ok, text: t }; });
    }).then(function (res) {
      box.textContent = '';
      if (!res.ok) {
        var p = document.createElement('p');
        p.className = 'callout error';
        p.textContent = res.text;
        box.appendChild(p);
        return;
      }
      box.appendChild(fragment(res.text));
      relativeTimes(box);
      var btn = $('#confirm', box);
      if (btn) { btn.focus(); }
    });
  }

  document.addEventListener('click', function (e) {
    var a = e.target.closest('a[data-dialog]');
    if (a && !e.ctrlKey && !e.metaKey && !e.shiftKey) {
      e.preventDefault();
      openDialog(a.getAttribute('href'));
      return;
    }
    var close = e.target.closest('[data-close]');
    if (close && close.closest('dialog')) {
      e.preventDefault();
      close.closest('dialog').close();
    }
  });
  document.addEventListener('submit', function (e) {
    var btn = e.target.querySelector('button[type=submit]');
    if (btn && e.target.classList.contains('confirm-form')) {
      btn.disabled = true;
      btn.textContent = btn.textContent + '…';
    }
  });

  // Logs: Follow reopens the page's stream with the pod, which sends the tail then new lines.
  var following = false;
  function onLog(l) {
    var log = $('#log');
    if (!log) { return; }
    var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    var ln = document.createElement('span');
    ln.className = 'ln';
    var t = document.createElement('time');
    t.textContent = l.time ? new Date(l.time).toISOString().substring(11, 19) : '';
    ln.appendChild(t);
    ln.appendChild(document.createTextNode(l.line));
    log.appendChild(ln);
    while (log.childElementCount > maxLogLines) { log.removeChild(log.firstElementChild); }
    if (atEnd) { log.scrollTop = log.scrollHeight; }
  }
  function onLogEnd(msg) {
    var st = $('#logstate');
    if (st) { st.textContent = msg; }
  }
  function toggleFollow(btn) {
    following = !following;
    btn.classList.toggle('on', following);
    btn.textContent = following ? 'Following' : 'Follow';
    var st = $('#logstate');
    if (following) {
      $('#log').textContent = '';
      if (st) { st.textContent = 'following'; }
      connect(btn.getAttribute('data-stream'));
    } else {
      if (st) { st.textContent = 'paused'; }
      connect(body.getAttribute('data-stream'));
    }
  }

  // Relative times: "5m ago", recomputed in the page (no request) every 30 s.
  function ago(d) {
    var s = Math.max(0, (Date.now() - d.getTime()) / 1000);
    if (s < 60) { return Math.floor(s) + 's ago'; }
    if (s < 3600) { return Math.floor(s / 60) + 'm ago'; }
    if (s < 172800) { return Math.floor(s / 3600) + 'h ago'; }
    return Math.floor(s / 86400) + 'd ago';
  }
  function relativeTimes(root) {
    $$('time[datetime]', root).forEach(function (t) {
      var d = new Date(t.getAttribute('datetime'));
      if (!isNaN(d) && d.getFullYear() > 1970) { t.textContent = ago(d); }
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var input = $('#filter');
    if (input) { input.addEventListener('input', applyFilter); }
    var btn = $('#follow');
    if (btn) { btn.addEventListener('click', function () { toggleFollow(btn); }); }
    var log = $('#log');
    if (log) { log.scrollTop = log.scrollHeight; }
    var stream = body.getAttribute('data-stream');
    if (stream) { connect(stream); }
    relativeTimes(document);
    setInterval(function () { relativeTimes(document); }, 30000);
  });
})();
