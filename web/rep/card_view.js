// The screen-pop card's parts, shared by the softphone (/rep) and the card
// page (/rep/calls/{id}): the transcript so far and the records tools
// fetched. Text only through textContent: everything here came from a
// caller or a model.

/// Fills `list` (an <ol>) with the card's transcript lines.
export function renderTranscript(list, lines) {
  list.replaceChildren();
  for (const line of lines || []) {
    const li = document.createElement('li');
    li.dataset.who = line.who;
    const who = document.createElement('b');
    who.textContent = line.who === 'agent' ? 'AI' : 'Caller';
    li.append(who, document.createTextNode(line.text));
    list.append(li);
  }
  list.scrollTop = list.scrollHeight;
}

/// One record a tool fetched: an object as fields, anything else as text.
export function renderRecord(record) {
  const box = document.createElement('div');
  box.className = 'record';
  const title = document.createElement('strong');
  title.textContent = record.tool;
  box.append(title);
  const result = record.result;
  if (result && typeof result === 'object' && !Array.isArray(result)) {
    const dl = document.createElement('dl');
    for (const [key, value] of Object.entries(result)) {
      const dt = document.createElement('dt');
      dt.textContent = key;
      const dd = document.createElement('dd');
      dd.textContent = typeof value === 'object' ? JSON.stringify(value) : String(value);
      dl.append(dt, dd);
    }
    box.append(dl);
  } else {
    const p = document.createElement('p');
    p.textContent = typeof result === 'string' ? result : JSON.stringify(result);
    box.append(p);
  }
  return box;
}
