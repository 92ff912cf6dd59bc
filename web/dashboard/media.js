// Joining a live call from the desk (docs/WEBRTC.md, "Joining a live
// call"): a WebRTC leg offered with the `join` message on /webrtc/ws, in
// role monitor (listen), coach (the microphone, heard by the rep only) or
// rep with take_over (the microphone, heard by all; the AI leaves).

// Leaving the leg is the page's hang-up: the socket closes with it.
export class Leg {
  constructor({ callId, role, token, takeOver = false, audio, onState }) {
    this.callId = callId;
    this.role = role;
    this.takeOver = takeOver;
    this.token = token;
    this.audio = audio;
    this.onState = onState;
    this.state = 'starting'; // starting | connecting | connected | ended
    this.peer = null;
    this.socket = null;
    this.microphone = null;
  }

  setState(state, why) {
    if (this.state === 'ended') return;
    this.state = state;
    this.onState(state, why);
  }

  async start() {
    const speaks = this.role !== 'monitor';
    if (speaks) {
      try {
        this.microphone = await navigator.mediaDevices.getUserMedia({
          audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
        });
      } catch {
        this.setState('ended', 'The microphone is needed to coach or take over: allow it and try again.');
        return;
      }
    }
    const pc = new RTCPeerConnection();
    this.peer = pc;
    if (speaks) {
      for (const track of this.microphone.getTracks()) pc.addTrack(track, this.microphone);
    } else {
      // A monitor only hears; sendrecv without a track keeps the offer
      // the shape every leg sends.
      pc.addTransceiver('audio', { direction: 'sendrecv' });
    }
    pc.ontrack = (event) => {
      this.audio.srcObject = event.streams[0] || new MediaStream([event.track]);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') this.setState('connected');
      if (pc.connectionState === 'failed') this.leave('The call audio could not connect.');
    };
    // The offer first, then the socket: its `open` must find the
    // listener below already in place.
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    if (this.state === 'ended') return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/webrtc/ws`);
    this.socket = socket;
    // Trickled candidates are optional (the server is ICE-lite): those
    // gathered before the socket opens are not needed.
    pc.onicecandidate = (event) => {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: 'candidate', candidate: event.candidate ? event.candidate.candidate : '' }));
      }
    };
    socket.addEventListener('open', () => {
      const join = { type: 'join', call_id: this.callId, role: this.role, token: this.token, sdp: offer.sdp };
      if (this.takeOver) join.take_over = true;
      socket.send(JSON.stringify(join));
      this.setState('connecting');
    });
    socket.addEventListener('message', async (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === 'answer') {
        await pc.setRemoteDescription({ type: 'answer', sdp: message.sdp });
      } else if (message.type === 'error') {
        this.leave(message.message);
      } else if (message.type === 'hangup' || (message.type === 'state' && message.state === 'ended')) {
        this.leave('The call ended.');
      }
    });
    socket.addEventListener('close', () => this.leave());
    socket.addEventListener('error', () => this.leave('The signalling socket failed (is /webrtc/ws served? [web] try).'));
  }

  leave(why) {
    if (this.state === 'ended') return;
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify({ type: 'hangup' }));
      this.socket.close();
    }
    if (this.peer) this.peer.close();
    if (this.microphone) for (const track of this.microphone.getTracks()) track.stop();
    this.audio.srcObject = null;
    this.setState('ended', why);
  }
}
