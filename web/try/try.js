// The /try page: one call to the agent over WebRTC, signalled on
// /webrtc/ws (docs/WEBRTC.md). No framework, no build step.

const stateBox = document.getElementById("state");
const stateText = document.getElementById("state-text");
const button = document.getElementById("call");
const transcript = document.getElementById("transcript");
const remote = document.getElementById("remote");

const LABELS = {
  idle: "Ready to call",
  microphone: "Asking for your microphone…",
  connecting: "Connecting…",
  connected: "Connected: say hello",
  ended: "Call ended",
  error: "Something went wrong",
};

// Exposed for tests and the curious: the live peer connection and state.
const call = { pc: null, ws: null, state: "idle", bargeIns: 0, lines: [] };
window.warmline = call;

function setState(state, detail) {
  call.state = state;
  stateBox.dataset.state = state;
  stateText.textContent = detail ? `${LABELS[state]}: ${detail}` : LABELS[state];
  const active = state === "microphone" || state === "connecting" || state === "connected";
  button.textContent = active ? "Hang up" : "Call";
  button.classList.toggle("hangup", active);
  button.disabled = state === "microphone";
}

function addLine(kind, who, text) {
  const empty = transcript.querySelector(".empty");
  if (empty) empty.remove();
  const li = document.createElement("li");
  li.className = kind;
  if (who) {
    const label = document.createElement("span");
    label.className = "who";
    label.textContent = who;
    li.append(label);
  }
  li.append(document.createTextNode(text));
  transcript.append(li);
  li.scrollIntoView({ block: "nearest" });
}

function send(message) {
  if (call.ws && call.ws.readyState === WebSocket.OPEN) call.ws.send(JSON.stringify(message));
}

function cleanUp() {
  if (call.pc) {
    call.pc.getSenders().forEach((s) => s.track && s.track.stop());
    call.pc.close();
  }
  if (call.ws && call.ws.readyState <= WebSocket.OPEN) call.ws.close();
  call.pc = null;
  call.ws = null;
}

function hangUp() {
  send({ type: "hangup" });
  cleanUp();
  setState("ended");
}

async function start() {
  setState("microphone");
  let microphone;
  try {
    microphone = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
  } catch (e) {
    setState("error", "the microphone is needed for a call");
    return;
  }
  setState("connecting");
  const pc = new RTCPeerConnection();
  call.pc = pc;
  microphone.getTracks().forEach((track) => pc.addTrack(track, microphone));
  pc.ontrack = (event) => {
    // Levels (and sound) need the track attached to an element.
    remote.srcObject = event.streams[0] || new MediaStream([event.track]);
  };
  pc.onicecandidate = (event) => {
    send({ type: "candidate", candidate: event.candidate ? event.candidate.candidate : "" });
  };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "failed") {
      setState("error", "the media connection failed");
      cleanUp();
    }
  };

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/webrtc/ws`);
  call.ws = ws;
  ws.onopen = async () => {
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    send({ type: "offer", sdp: offer.sdp });
  };
  ws.onmessage = async (event) => {
    const message = JSON.parse(event.data);
    switch (message.type) {
      case "answer":
        await pc.setRemoteDescription({ type: "answer", sdp: message.sdp });
        break;
      case "state":
        if (message.state === "ended") {
          cleanUp();
          setState("ended");
        } else {
          setState(message.state);
        }
        break;
      case "transcript":
        call.lines.push(message);
        addLine(message.speaker, message.speaker === "agent" ? "Agent" : "You", message.text);
        break;
      case "barge_in":
        call.bargeIns += 1;
        addLine("note", null, "You spoke: the agent stopped to listen.");
        break;
      case "hangup":
        addLine("note", null, `Call ended (${message.reason}).`);
        break;
      case "error":
        setState("error", message.message);
        break;
    }
  };
  ws.onclose = () => {
    if (call.state === "connecting" || call.state === "connected") {
      cleanUp();
      setState("ended");
    }
  };
}

button.addEventListener("click", () => {
  if (call.state === "connecting" || call.state === "connected") hangUp();
  else start();
});

setState("idle");
