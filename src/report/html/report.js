// routewarden's HTML report: the severity and status filters. Inlined into
// the page, allowed by its hash in the Content-Security-Policy; it loads
// nothing and binds its own listeners (no inline handlers).
(function () {
  'use strict';
  var nav = document.getElementById('filters');
  if (!nav) { return; }
  var hidden = { severity: {}, status: {} };
  var findings = document.querySelectorAll('.finding');
  var groups = document.querySelectorAll('section.api, section.target');
  var shownCount = document.getElementById('shown-count');

  function apply() {
    var shown = 0;
    for (var i = 0; i < findings.length; i++) {
      var f = findings[i];
      var hide = hidden.severity[f.getAttribute('data-severity')] === true ||
        hidden.status[f.getAttribute('data-status')] === true;
      f.hidden = hide;
      if (!hide) { shown++; }
    }
    // An API or target whose findings are all filtered out goes too.
    for (var j = 0; j < groups.length; j++) {
      groups[j].hidden = groups[j].querySelector('.finding:not([hidden])') === null;
    }
    if (shownCount) { shownCount.textContent = String(shown); }
  }

  var buttons = nav.querySelectorAll('button[data-filter]');
  for (var k = 0; k < buttons.length; k++) {
    buttons[k].addEventListener('click', function (event) {
      var button = event.currentTarget;
      var on = button.getAttribute('aria-pressed') !== 'true';
      button.setAttribute('aria-pressed', on ? 'true' : 'false');
      hidden[button.getAttribute('data-filter')][button.getAttribute('data-value')] = !on;
      apply();
    });
  }
  nav.hidden = false;
  apply();
}());
