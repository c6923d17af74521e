import './style.css';
import { App } from './app';

const app = new App();
// for the browser tests and for a look from the console
(window as unknown as { __yingji: App }).__yingji = app;
void app.start();
