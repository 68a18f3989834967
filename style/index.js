import './base.css';
import './steps.css';
import './composer.css';
import './cells.css';
import './context.css';
import './changes.css';
